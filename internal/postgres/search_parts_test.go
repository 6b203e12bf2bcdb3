package postgres_test

import (
	"slices"
	"testing"

	"github.com/unlockd/unlockd/internal/postgres"
)

func TestWhatASearchHandsToItsIndexes(t *testing.T) {
	for _, c := range []struct {
		query    string
		trigrams []string
		bigram   bool
	}{
		{"User4242", []string{"Use", "ser", "er4", "r42", "424", "242"}, false},
		{"aaAa", []string{"aaA"}, false}, // "aAa" is the same trigram
		{"corp1.example", []string{"cor", "orp", "rp1", "exa", "xam", "amp", "mpl", "ple"}, false},
		{"欧阳小红", []string{"欧阳小", "阳小红"}, false},
		{"ÉMILE", []string{"MIL", "ILE"}, false}, // É: lower case differs by locale
		{"xİyz", nil, false}, // İ lower-cases to two characters
		{"ab", nil, false},
		{"x.y.z", nil, false},
		{"张伟", nil, true},
		{"张a", nil, true},
		{"张 ", nil, false},
		{"Éa", nil, false},
		{"張偉", nil, true},
		{"张伟明", []string{"张伟明"}, false},
	} {
		if got := postgres.IndexableTrigrams(c.query); !slices.Equal(got, c.trigrams) {
			t.Errorf("trigrams of %q: %q, want %q", c.query, got, c.trigrams)
		}
		if got := postgres.IsBigram(c.query); got != c.bigram {
			t.Errorf("IsBigram(%q) = %v, want %v", c.query, got, c.bigram)
		}
	}
}
