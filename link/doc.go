// Package link links relaycast to other servers with standard protocols: pull sources
// (a camera's RTSP, another server's RTMP or SRT) published on a path, on demand or always;
// origins an edge pulls any path it does not have from, with failover; and push relays that
// restream a path to other servers. Each link reconnects on its own with capped exponential
// backoff and shows its state (Links), so a dead peer never slows the others.
package link
