package ladder

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Encoders: "libx264" (software), or a hardware one where the machine has it.
const (
	EncoderAuto   = "auto"
	EncoderX264   = "libx264"
	EncoderNVENC  = "h264_nvenc"
	EncoderVAAPI  = "h264_vaapi"
	EncoderQSV    = "h264_qsv"
	vaapiDevice   = "/dev/dri/renderD128"
	nvidiaDevice  = "/dev/nvidia0"
	probeDeadline = 10 * time.Second
)

// ChooseEncoder picks "auto"'s encoder: NVENC, VAAPI or QSV when ffmpeg has it and its
// device is there, otherwise libx264.
func ChooseEncoder(ctx context.Context, ffmpeg string) string {
	ctx, cancel := context.WithTimeout(ctx, probeDeadline)
	defer cancel()
	out, err := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-encoders").Output()
	if err != nil {
		return EncoderX264
	}
	has := func(enc, dev string) bool {
		_, err := os.Stat(dev)
		return err == nil && strings.Contains(string(out), " "+enc+" ")
	}
	switch {
	case has(EncoderNVENC, nvidiaDevice):
		return EncoderNVENC
	case has(EncoderVAAPI, vaapiDevice):
		return EncoderVAAPI
	case has(EncoderQSV, vaapiDevice):
		return EncoderQSV
	}
	return EncoderX264
}

// ffmpegArgs reads MPEG-TS on stdin and writes r's encoding of its first video track as
// MPEG-TS on stdout: every picture kept with its timestamps (so each output picture is an
// input one, on the source's timeline), a keyframe exactly where the source has one and
// nowhere else (so players switch between renditions at any segment), H.264 High at level
// 3.1 or 4.1 (what the multivariant playlist announces before the rung runs).
func ffmpegArgs(r Rung, encoder string) []string {
	kbps := strconv.Itoa(r.Kbps) + "k"
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin",
		"-fflags", "+nobuffer", "-probesize", "65536", "-analyzeduration", "500000", "-f", "mpegts"}
	height := strconv.Itoa(r.Height)
	var codec []string
	switch encoder {
	case EncoderNVENC:
		codec = []string{"-vf", "scale=-2:" + height, "-c:v", EncoderNVENC, "-preset", "p4", "-tune", "ll",
			"-rc", "cbr", "-forced-idr", "1", "-bf", "0", "-pix_fmt", "yuv420p"}
	case EncoderVAAPI:
		args = append(args, "-vaapi_device", vaapiDevice)
		codec = []string{"-vf", "format=nv12,hwupload,scale_vaapi=w=-2:h=" + height, "-c:v", EncoderVAAPI, "-bf", "0"}
	case EncoderQSV:
		codec = []string{"-vf", "scale=-2:" + height, "-c:v", EncoderQSV, "-preset", "veryfast", "-bf", "0"}
	default:
		codec = []string{"-vf", "scale=-2:" + height, "-c:v", EncoderX264, "-preset", "veryfast", "-tune", "zerolatency",
			"-x264-params", "scenecut=0:keyint=infinite:min-keyint=1", "-threads", "2", "-pix_fmt", "yuv420p"}
	}
	// the encoder's clock is the input's (90 kHz), not 1/frame rate, which would round
	// every timestamp to a grid the source's (milliseconds, from RTMP) is not on
	args = append(args, "-i", "pipe:0", "-copyts", "-map", "0:v:0", "-fps_mode", "passthrough", "-enc_time_base:v", "-1")
	args = append(args, codec...)
	args = append(args, "-profile:v", "high", "-level:v", level(r),
		"-force_key_frames", "source", "-b:v", kbps, "-maxrate", kbps, "-bufsize", kbps,
		"-f", "mpegts", "-muxdelay", "0", "-muxpreload", "0", "pipe:1")
	return args
}

// level is the H.264 level a rung needs at up to 30 pictures a second.
func level(r Rung) string {
	if r.Height <= 720 {
		return "3.1"
	}
	return "4.1"
}

// Codecs is the RFC 6381 name of what a rung encodes: H.264 High at its level.
func (r Rung) Codecs() string {
	if r.Height <= 720 {
		return "avc1.64001f"
	}
	return "avc1.640029"
}
