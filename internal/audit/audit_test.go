package audit

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func chain(n int) []*Event {
	var out []*Event
	prev := GenesisHash
	id := int64(7)
	for i := 0; i < n; i++ {
		e := &Event{At: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC).Add(time.Duration(i) * time.Second),
			Actor: "system", Action: SignInFailed, AccountID: &id, Username: "alice", ClientIP: "192.0.2.1",
			Details: Details("reason", "wrong_password")}
		e.Seal(int64(i+1), prev)
		prev = e.Hash
		out = append(out, e)
	}
	return out
}

func verify(events []*Event) error {
	v := NewVerifier()
	for _, e := range events {
		if err := v.Check(e); err != nil {
			return err
		}
	}
	return nil
}

func TestIntactChainVerifies(t *testing.T) {
	if err := verify(chain(5)); err != nil {
		t.Fatal(err)
	}
}

func TestTamperingIsFound(t *testing.T) {
	tests := []struct {
		name   string
		tamper func([]*Event) []*Event
		bad    int64
	}{
		{"changed action", func(es []*Event) []*Event { es[2].Action = SignInSucceeded; return es }, 3},
		{"changed details", func(es []*Event) []*Event { es[1].Details = `{"reason":"x"}`; return es }, 2},
		{"changed time", func(es []*Event) []*Event { es[3].At = es[3].At.Add(time.Microsecond); return es }, 4},
		{"changed account", func(es []*Event) []*Event { id := int64(8); es[0].AccountID = &id; return es }, 1},
		{"removed event", func(es []*Event) []*Event { return append(es[:2], es[3:]...) }, 4},
		{"rehashed after a change", func(es []*Event) []*Event {
			es[1].Username = "mallory"
			es[1].Hash = ComputeHash(es[1].PrevHash, es[1])
			return es
		}, 3},
	}
	for _, tt := range tests {
		err := verify(tt.tamper(chain(5)))
		var p *Problem
		if !errors.As(err, &p) || p.ID != tt.bad {
			t.Errorf("%s: got %v, want a problem at event %d", tt.name, err, tt.bad)
		}
	}
}

// Length-prefixing keeps two different events from hashing the same.
func TestFieldBoundariesMatter(t *testing.T) {
	a := &Event{Actor: "ab", Action: "c"}
	b := &Event{Actor: "a", Action: "bc"}
	if bytes.Equal(ComputeHash(GenesisHash, a), ComputeHash(GenesisHash, b)) {
		t.Fatal("field boundaries are ambiguous")
	}
}

func TestExportFormats(t *testing.T) {
	es := chain(2)
	es[0].Username = "=cmd|' /C calc'!A0"
	var jl, cs bytes.Buffer
	for _, f := range []struct {
		format string
		buf    *bytes.Buffer
	}{{"jsonl", &jl}, {"csv", &cs}} {
		x, ok := NewExporter(f.buf, f.format)
		if !ok {
			t.Fatal(f.format)
		}
		for _, e := range es {
			if err := x.Write(e); err != nil {
				t.Fatal(err)
			}
		}
		x.Flush()
	}
	if strings.Count(jl.String(), "\n") != 2 || !strings.Contains(jl.String(), `"details":{"reason":"wrong_password"}`) {
		t.Errorf("jsonl: %s", jl.String())
	}
	if !strings.HasPrefix(cs.String(), "id,at,actor") || !strings.Contains(cs.String(), "'=cmd") {
		t.Errorf("csv: %s", cs.String())
	}
	if _, ok := NewExporter(&jl, "xml"); ok {
		t.Error("xml accepted")
	}
}
