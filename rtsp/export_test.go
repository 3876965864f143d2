package rtsp

// GuardRequests runs the request guard over what a client sent.
func GuardRequests(b []byte) error { return (&requestGuard{}).feed(b) }
