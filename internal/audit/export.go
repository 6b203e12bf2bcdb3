package audit

import (
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"io"
	"strconv"
	"time"
)

// exported is the JSON shape of one event in an export.
type exported struct {
	ID        int64           `json:"id"`
	At        string          `json:"at"`
	Actor     string          `json:"actor"`
	Action    string          `json:"action"`
	AccountID *int64          `json:"account_id"`
	Username  string          `json:"username"`
	ClientIP  string          `json:"client_ip"`
	Details   json.RawMessage `json:"details"`
	PrevHash  string          `json:"prev_hash"`
	Hash      string          `json:"hash"`
}

// Exporter writes events as JSON lines or CSV.
type Exporter struct {
	format string
	enc    *json.Encoder
	csv    *csv.Writer
	header bool
}

// NewExporter returns an exporter for format "jsonl" or "csv"; ok is false for any other format.
func NewExporter(w io.Writer, format string) (*Exporter, bool) {
	switch format {
	case "jsonl":
		return &Exporter{format: format, enc: json.NewEncoder(w)}, true
	case "csv":
		return &Exporter{format: format, csv: csv.NewWriter(w)}, true
	}
	return nil, false
}

// Write writes one event.
func (x *Exporter) Write(e *Event) error {
	at := e.At.UTC().Format(time.RFC3339Nano)
	if x.format == "jsonl" {
		details := json.RawMessage(e.Details)
		if !json.Valid(details) {
			details, _ = json.Marshal(e.Details)
		}
		return x.enc.Encode(exported{ID: e.ID, At: at, Actor: e.Actor, Action: e.Action, AccountID: e.AccountID,
			Username: e.Username, ClientIP: e.ClientIP, Details: details,
			PrevHash: hex.EncodeToString(e.PrevHash), Hash: hex.EncodeToString(e.Hash)})
	}
	if !x.header {
		x.header = true
		if err := x.writeCSV("id", "at", "actor", "action", "account_id", "username", "client_ip", "details", "prev_hash", "hash"); err != nil {
			return err
		}
	}
	account := ""
	if e.AccountID != nil {
		account = strconv.FormatInt(*e.AccountID, 10)
	}
	return x.writeCSV(strconv.FormatInt(e.ID, 10), at, e.Actor, e.Action, account, e.Username,
		e.ClientIP, e.Details, hex.EncodeToString(e.PrevHash), hex.EncodeToString(e.Hash))
}

// writeCSV writes one CSV record with every cell neutralised: no column, present or future, can
// reach a spreadsheet as a formula.
func (x *Exporter) writeCSV(cells ...string) error {
	for i, c := range cells {
		cells[i] = csvSafe(c)
	}
	return x.csv.Write(cells)
}

// Flush finishes the output.
func (x *Exporter) Flush() error {
	if x.csv != nil {
		x.csv.Flush()
		return x.csv.Error()
	}
	return nil
}

// csvSafe keeps a spreadsheet from reading a cell as a formula (OWASP, CSV injection): a cell that
// starts with =, +, -, @, tab or carriage return gets a leading apostrophe. Usernames, actors, client
// addresses and details hold whatever someone typed.
func csvSafe(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r') {
		return "'" + s
	}
	return s
}
