package audit

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
	"time"
)

// Every free-text cell of a CSV export is neutralised for spreadsheets (OWASP CSV injection):
// whatever column someone's text reaches, a cell never starts with a formula character.
func TestCSVExportNeutralisesEveryFreeTextColumn(t *testing.T) {
	id := int64(7)
	for _, payload := range []string{`=HYPERLINK("http://evil.example","x")`, "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rx"} {
		e := &Event{At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Actor: payload, Action: payload, AccountID: &id,
			Username: payload, ClientIP: payload, Details: payload}
		e.Seal(1, GenesisHash)
		var buf bytes.Buffer
		x, ok := NewExporter(&buf, "csv")
		if !ok {
			t.Fatal("no csv exporter")
		}
		if err := x.Write(e); err != nil {
			t.Fatal(err)
		}
		if err := x.Flush(); err != nil {
			t.Fatal(err)
		}
		records, err := csv.NewReader(&buf).ReadAll()
		if err != nil || len(records) != 2 {
			t.Fatalf("export: %v, %d records", err, len(records))
		}
		header, row := records[0], records[1]
		for i, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("payload %q: column %s starts with %q: %q", payload, header[i], cell[:1], cell)
			}
		}
		for _, col := range []string{"actor", "action", "username", "client_ip", "details"} {
			i := indexOf(header, col)
			if i < 0 || row[i] != "'"+payload {
				t.Errorf("payload %q: column %s is %q, want it kept behind a quote", payload, col, row[i])
			}
		}
	}
}

func TestCSVSafe(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "alice": "alice", "=1+1": "'=1+1", "+1": "'+1", "-1": "'-1", "@x": "'@x", "\tx": "'\tx",
		"\rx": "'\rx", "a=b": "a=b", "192.0.2.1": "192.0.2.1", "2001:db8::1": "2001:db8::1",
	} {
		if got := csvSafe(in); got != want {
			t.Errorf("csvSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}
