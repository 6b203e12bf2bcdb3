package account

import (
	"testing"
	"time"
)

// A sign-in's timeline marks its stages in order, once each, and only once started.
func TestTimelineMark(t *testing.T) {
	tl := startTimeline(1)
	time.Sleep(2 * time.Millisecond)
	tl.mark(stageLookedUp)
	if s := tl.stages(); len(s) != 2 || !s[0].Before(s[1]) {
		t.Fatalf("after the lookup: %v", s)
	}
	before := tl
	tl.mark(stageStarted)
	tl.mark(stageCount)
	tl.mark(-1)
	if tl != before {
		t.Errorf("marking a stage passed or out of range changed the timeline: %v, want %v", tl, before)
	}
	var never timeline
	never.mark(stageLookedUp)
	if len(never.stages()) != 0 {
		t.Errorf("a timeline never started, marked: %v; want no stage", never.stages())
	}
}

// A stage skipped on the way counts as passed with the next one marked.
func TestTimelineMarkFillsSkippedStages(t *testing.T) {
	tl := startTimeline(1)
	tl.mark(stageAsked) // an unusable login is never looked up
	s := tl.stages()
	if len(s) != 3 || s[stageLookedUp] != s[stageAsked] || s[stageAsked].Before(s[stageStarted]) {
		t.Errorf("after asking, the lookup skipped: %v; want it passed with the asking", s)
	}
}

// A check drawn met a load that has passed when at least twice as many sign-ins, and at least two
// more, were under way as now; a refusal that is no sign-in takes any check.
func TestBusier(t *testing.T) {
	tests := []struct {
		then, now int
		want      bool
	}{
		{1, 1, false}, {2, 1, false}, {3, 1, true}, {3, 2, false}, {4, 2, true}, {7, 4, false},
		{8, 4, true}, {1, 4, false}, {9, 0, false},
	}
	for _, tt := range tests {
		if got := busier(tt.then, tt.now); got != tt.want {
			t.Errorf("busier(%d, %d) = %v, want %v", tt.then, tt.now, got, tt.want)
		}
	}
}

// last is the last stage passed and when; a timeline never started starts now.
func TestTimelineLast(t *testing.T) {
	tl := startTimeline(1)
	if s, at := tl.last(); s != stageStarted || at != tl.at[stageStarted] {
		t.Errorf("just started: stage %d at %v, want the start", s, at)
	}
	tl.mark(stageLookedUp)
	if s, at := tl.last(); s != stageLookedUp || at != tl.at[stageLookedUp] {
		t.Errorf("after the lookup: stage %d at %v, want the lookup", s, at)
	}
	var never timeline
	before := time.Now()
	if s, at := never.last(); s != stageStarted || at.Before(before) {
		t.Errorf("never started: stage %d at %v, want the start, now", s, at)
	}
}
