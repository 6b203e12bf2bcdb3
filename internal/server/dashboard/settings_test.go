package dashboard

import "testing"

func TestShortDuration(t *testing.T) {
	for in, want := range map[string]string{"15m0s": "15m", "1h0m0s": "1h", "24h0m0s": "24h", "1h30m0s": "1h30m",
		"30s": "30s", "1m30s": "1m30s", "0s": "0s", "10": "10", "true": "true"} {
		if got := shortDuration(in); got != want {
			t.Errorf("shortDuration(%q) = %q, want %q", in, got, want)
		}
	}
}
