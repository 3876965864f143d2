package app

import (
	"time"

	"github.com/relaycast/relaycast/link"
	"github.com/relaycast/relaycast/record"
	"github.com/relaycast/relaycast/session"
	"github.com/relaycast/relaycast/webhook"
)

// sessionEvent is a session's start or stop as a webhook event.
func sessionEvent(c session.Change) webhook.Event {
	e := webhook.Event{Time: time.Now(), Path: c.Path, Session: c.ID, Protocol: c.Protocol, Remote: c.Remote, Transport: c.Transport}
	publish := c.Kind == session.Publish
	switch {
	case !c.Ended && publish:
		e.Type = webhook.PublishStart
	case !c.Ended:
		e.Type = webhook.ReadStart
	default:
		e.Type = webhook.ReadStop
		if publish {
			e.Type = webhook.PublishStop
		}
		if e.Reason = session.Reason(c.Err); publish && e.Reason == "viewer left" {
			e.Reason = "publisher left" // hung up, as a viewer does
		}
		e.BytesIn, e.BytesOut = c.BytesIn, c.BytesOut
		e.Seconds = e.Time.Sub(c.Since).Seconds()
	}
	return e
}

// linkEvent is a link's change of state as a webhook event: up when media flow, down when
// they stop; false for the changes between (connecting, retrying).
func linkEvent(prev string, now link.Status) (webhook.Event, bool) {
	e := webhook.Event{Path: now.Path, Link: now.Kind, URL: now.URL, Error: now.Error, Time: now.Since}
	switch {
	case now.State == link.StateLive:
		e.Type = webhook.LinkUp
	case prev == link.StateLive:
		e.Type = webhook.LinkDown
	default:
		return e, false
	}
	return e, true
}

// segmentEvent is a finished recording file as a webhook event.
func segmentEvent(s record.Segment) webhook.Event {
	return webhook.Event{Type: webhook.RecordingSegment, Path: s.Path, File: s.File, Started: s.Started,
		Seconds: s.Duration.Seconds(), Bytes: s.Bytes}
}

// emitEvents sends the book's, the links' and the recorder's events to the webhooks.
func (a *App) emitEvents() {
	if a.Hooks == nil {
		return
	}
	a.Sessions.Observe(func(c session.Change) { a.Hooks.Emit(sessionEvent(c)) })
	a.Links.OnChange(func(prev string, now link.Status) {
		if e, ok := linkEvent(prev, now); ok {
			a.Hooks.Emit(e)
		}
	})
}
