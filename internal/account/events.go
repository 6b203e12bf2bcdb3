package account

import (
	"time"

	"github.com/unlockd/unlockd/internal/notice"
)

// events builds one webhook message per configured URL for an event about an account, so other
// applications (the CRM, a chat channel) hear of locks, unlocks, freezes and requests. They are
// queued with the change, like mail.
func (s *kit) events(event string, a *Account, at time.Time, kv ...string) []Message {
	if len(s.opts.Webhooks) == 0 {
		return nil
	}
	n := notice.Event{Name: event, At: at, Attrs: map[string]string{}}
	if a != nil {
		n.Username = a.Username
	}
	for i := 0; i+1 < len(kv); i += 2 {
		n.Attrs[kv[i]] = kv[i+1]
	}
	out := make([]Message, 0, len(s.opts.Webhooks))
	for _, u := range s.opts.Webhooks {
		out = append(out, compose(ChannelWebhook, u, reader{}, n))
	}
	return out
}
