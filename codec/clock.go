package codec

import "time"

// Ticks converts d to ticks of a clock of rate Hz, exactly (rounded toward zero) for any
// duration a stream can reach: int64(d)*rate overflows at 2^63 ns / rate, 28.5 h at 90 kHz.
// Every output and input converts through Ticks and Duration.
func Ticks(d time.Duration, rate int64) int64 {
	return int64(d/time.Second)*rate + int64(d%time.Second)*rate/int64(time.Second)
}

// Duration converts v ticks of a clock of rate Hz to a duration, exactly for any count.
func Duration(v, rate int64) time.Duration {
	return time.Duration(v/rate)*time.Second + time.Duration(v%rate)*time.Second/time.Duration(rate)
}
