package postgres

import (
	"context"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/unlockd/unlockd/internal/account"
)

// The dashboard's account search, built to answer in milliseconds with a million accounts.
//
// A search matches a substring of the username, email, display name or phone, without regard to
// letter case. Results come in two tiers, each in username order (search_key: the lower-case
// username in byte order):
//
//  1. accounts whose username starts with the query: a range of the accounts_search_order index;
//  2. every other match, found in one of three ways.
//     - The walk reads accounts_search_order in order (it includes search_text, so no table row
//     is read) for at most walkRows entries: when matches are common it fills a page at once.
//     When they are less common but the window's yield says the rest of the page lies within
//     a few windows more, it walks on that far; within a state that the sample says holds few
//     accounts (a state's index holds search_text too), it walks on through all of them.
//     - When that window holds too few, an index is asked for the rest, and the whole query is
//     checked on what it returns. The trigram index is given only the query's rarest trigrams
//     (ranked from a sample of the table: a trigram in every email domain costs the index much
//     and narrows nothing). Two characters beyond ASCII (a Chinese name) go to the bigram
//     index.
//     - One or two ASCII letters have no index. The walk goes on, but no further than
//     searchWalkBound windows a page: when the page is not full by then, it holds every match
//     up to the username the walk stopped at, and says so (SearchPage.SearchedTo). A query
//     that short which no index serves is one few accounts hold (a common one fills the page
//     within the first windows), so walking to the end would read the whole index for a handful.
//
// A full page ends with the last username it shows: the next page starts after it, in its tier
// (a username starting with the query is in tier 1, one of tier 2 never does). A partial page
// goes on after the username the walk stopped at, which may start with the query: that
// continuation says it is in tier 2 (AccountSearch.Others).
//
// Every query runs unprepared, so the planner sees the values (the state, the patterns) and can
// use the partial index of a state.

// DefaultSearchWalk is how many index entries a search walks in order before it asks the
// trigram index: about 6 ms here.
const DefaultSearchWalk = 10000

const (
	// searchWalkOn is how many windows more a search walks, at most, when what it walked says
	// the rest of the page lies within them.
	searchWalkOn = 2
	// searchWalkBound is how many windows a page of a search that no index serves walks, at most
	// (more than 1+searchWalkOn): 50,000 entries, 31 ms here at a million accounts (p95 37 ms),
	// where the walk to the end took 270 ms to 1.4 s. Past them the page says where it stopped:
	// such a query matches so few accounts that the page is rarely full.
	searchWalkBound = 5
	// searchStateWalk is how many windows a search walks on within a state that the sample says
	// holds at most that many accounts, and searchHeapCost how many walked entries one candidate
	// of the trigram index costs (a table page, often not in memory) for it to do so.
	searchStateWalk = 3
	searchHeapCost  = 100
	// searchTrigrams is how many of the query's rarest trigrams the trigram index is given.
	searchTrigrams = 3
	// trigramSampleRows is how many accounts the trigram ranking is drawn from, and
	// trigramSampleAge how long it serves before it is drawn again.
	trigramSampleRows = 10000
	trigramSampleAge  = time.Hour
)

// SearchAccounts returns a page of accounts matching q; see the comment at the top of this file.
// Its steps read one snapshot, so that a window walked in one statement is where the next starts.
func (s *Admin) SearchAccounts(ctx context.Context, q account.AccountSearch) (account.SearchPage, error) {
	var page account.SearchPage
	err := pgx.BeginTxFunc(ctx, s.reads().Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly},
		func(tx pgx.Tx) error {
			var ids []int64
			var err error
			if q.Query == "" {
				ids, err = searchIDs(ctx, tx, `SELECT id FROM accounts WHERE search_key > $1 AND ($2 = '' OR state = $2)
					ORDER BY search_key LIMIT $3`, asciiLower(q.After), string(q.State), q.Limit)
			} else {
				ids, page.SearchedTo, err = s.searchMatches(ctx, tx, q, q.Limit)
			}
			if err == nil {
				page.Accounts, err = accountsInOrder(ctx, tx, ids)
			}
			return err
		})
	if err != nil {
		return account.SearchPage{}, unavailable("search accounts", err)
	}
	return page, nil
}

// searchMatches finds up to limit matches of q.Query after q.After, in its tier. When it stops
// short of limit with accounts left to check (see searchWalkBound), searchedTo is the username
// the walk stopped at, and every match up to it is in ids.
func (s *Admin) searchMatches(ctx context.Context, tx pgx.Tx, q account.AccountSearch, limit int) (ids []int64, searchedTo string, err error) {
	// Usernames are ASCII: lower-casing ASCII alone compares them, whatever the database's
	// locale would make of other letters.
	query, after, state := asciiLower(q.Query), asciiLower(q.After), string(q.State)
	if !q.Others && (after == "" || strings.HasPrefix(after, query)) {
		// Tier 1. Usernames hold only letters, digits and . _ -, so every key that starts with
		// query sorts below query + DEL in byte order.
		ids, err = searchIDs(ctx, tx, `SELECT id FROM accounts
			WHERE search_key >= $1 AND search_key < $2 AND search_key > $3 AND ($4 = '' OR state = $4)
			ORDER BY search_key LIMIT $5`, query, query+"\x7f", after, state, limit)
		if err != nil || len(ids) == limit {
			return ids, "", err
		}
		after = ""
	}
	// Tier 2, first the walk: at most walkRows index entries in order, stopping at a full page.
	// $1 the query (ASCII lower case), $2 the state or '', $3 the key to start after, $4 how
	// many, $5 the query as a LIKE pattern, lower-cased by search_fold as search_text is.
	const others = ` search_text LIKE search_fold($5) AND NOT starts_with(search_key, $1)`
	like := "%" + likeEscaper.Replace(q.Query) + "%"
	// walk reads rows entries after the key after; end is the key of the last one ("" when the
	// page is full, or when no account is left after the window).
	walk := func(after string, rows int) (walked []int64, end string, err error) {
		walked, err = searchIDs(ctx, tx, `SELECT id FROM (
				SELECT id, search_key, search_text FROM accounts WHERE search_key > $3 AND ($2 = '' OR state = $2)
				ORDER BY search_key LIMIT $6) w
			WHERE`+others+` ORDER BY search_key LIMIT $4`, query, state, after, limit-len(ids), like, rows)
		if err != nil || len(ids)+len(walked) == limit {
			return walked, "", err
		}
		// Too few in the window: where did it end? The entry after its last tells whether any
		// account is left. (search_key alone keeps this to the index: no table row is read.)
		last, err := tx.Query(ctx, `SELECT search_key FROM accounts WHERE search_key > $1 AND ($2 = '' OR state = $2)
			ORDER BY search_key OFFSET $3 LIMIT 2`, pgx.QueryExecModeExec, after, state, rows-1)
		if err != nil {
			return nil, "", err
		}
		ends, err := pgx.CollectRows(last, pgx.RowTo[string])
		if err != nil || len(ends) < 2 {
			return walked, "", err
		}
		return walked, ends[0], nil
	}
	walked, end, err := walk(after, s.walkRows)
	ids = append(ids, walked...)
	if err != nil || len(ids) == limit || end == "" {
		return ids, "", err
	}
	// What was walked tells how common matches are. While the rest of the page is likely within
	// searchWalkOn windows more, walking on is cheaper than the trigram index: the index's
	// candidates are read from the table, one page each, and a piece in half a percent of a
	// million accounts has 5,000 of them (over 100 ms from a cold cache), where walking on to the
	// page's last match reads a few hundred or thousand entries more.
	read := s.walkRows // entries walked in tier 2
	for found := len(walked); found > 0; found += len(walked) {
		// Enough entries for the matches still wanted, and three standard deviations more.
		need := float64(limit - len(ids))
		more := int((need + 3*math.Sqrt(need) + 3) * float64(read) / float64(found))
		if read+more > (1+searchWalkOn)*s.walkRows {
			break
		}
		walked, end, err = walk(end, more)
		ids = append(ids, walked...)
		if err != nil || len(ids) == limit || end == "" {
			return ids, "", err
		}
		read += more
	}
	pieces := s.trigrams.rarest(q.Query, searchTrigrams, s.reads())
	// Within a state other than active the state's own index holds search_text too. When the
	// sample says the state holds few accounts, and the trigram index would hand over many
	// candidates (each read from the table, in every state: a username's start among locked
	// accounts had thousands, for a handful of matches), walking the rest of the state is cheaper.
	if rows := searchStateWalk * s.walkRows; state != "" && len(pieces) > 0 && s.trigrams.walkCheaper(state, pieces, rows) {
		walked, end, err = walk(end, rows)
		ids = append(ids, walked...)
		if err != nil || len(ids) == limit || end == "" {
			return ids, "", err
		}
	}
	// Past the window, an index finds the candidates and the whole query is checked on them. The
	// materialized CTE keeps the planner on that index: asked for search_key order, it would walk.
	args := []any{query, state, end, limit - len(ids), like}
	var found []string
	switch {
	case len(pieces) > 0:
		for _, piece := range pieces {
			args = append(args, "%"+piece+"%")
			found = append(found, "search_text LIKE search_fold($"+strconv.Itoa(len(args))+")")
		}
	case isBigram(q.Query):
		// Two Chinese characters are a whole name, and too short for a trigram.
		args = append(args, q.Query)
		found = append(found, "account_bigrams(search_text) @> ARRAY[search_fold($6)]")
	default:
		// Nothing an index can use (one letter, or two ASCII ones): walk on, up to searchWalkBound
		// windows in all, and say where the walk stopped if the page is not full by then.
		if rest := searchWalkBound*s.walkRows - read; rest > 0 {
			walked, end, err = walk(end, rest)
			ids = append(ids, walked...)
			if err != nil || len(ids) == limit || end == "" {
				return ids, "", err
			}
		}
		// The page names the username as it is written, which the key lower-cases.
		err = tx.QueryRow(ctx, `SELECT username FROM accounts WHERE search_key = $1`, pgx.QueryExecModeExec, end).Scan(&searchedTo)
		return ids, searchedTo, err
	}
	rest, err := searchIDs(ctx, tx, `WITH found AS MATERIALIZED (
			SELECT id, search_key, search_text, state FROM accounts WHERE `+strings.Join(found, " AND ")+` AND search_key > $3)
		SELECT id FROM found WHERE`+others+` AND ($2 = '' OR state = $2)
		ORDER BY search_key LIMIT $4`, args...)
	return append(ids, rest...), "", err
}

// asciiLower lower-cases ASCII letters only.
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`)

// isBigram reports whether query is two characters that lower-case to themselves, one of them
// beyond ASCII, without space: what the account_bigrams index holds.
func isBigram(query string) bool {
	runes := []rune(query)
	if len(runes) != 2 || (runes[0] < utf8.RuneSelf && runes[1] < utf8.RuneSelf) {
		return false
	}
	for _, r := range runes {
		if _, ok := foldsAlone(r); !ok || unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// searchIDs runs one step of a search, unprepared so that it is planned for its values.
func searchIDs(ctx context.Context, tx pgx.Tx, sql string, args ...any) ([]int64, error) {
	rows, err := tx.Query(ctx, sql, append([]any{pgx.QueryExecModeExec}, args...)...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// accountsInOrder reads the accounts a search found, in the order it found them.
func accountsInOrder(ctx context.Context, tx pgx.Tx, ids []int64) ([]*account.Account, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := tx.Query(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]*account.Account, len(ids))
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		byID[a.ID] = a
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]*account.Account, 0, len(ids))
	for _, id := range ids {
		if a := byID[id]; a != nil { // always, in the same snapshot
			out = append(out, a)
		}
	}
	return out, nil
}

// PrepareSearch draws the sample that ranks trigrams. Searches draw it themselves when it is
// missing or an hour old, in the background; serve calls this at start so that the first
// searches have it.
func (s *Admin) PrepareSearch(ctx context.Context) error {
	return s.trigrams.refresh(ctx, s.reads())
}

// trigramSample counts the trigrams of a sample of search_text values, to tell a rare trigram
// from a common one. It only chooses what the trigram index is asked: results are the same
// with any sample, or none.
type trigramSample struct {
	mu         sync.Mutex
	counts     map[[3]rune]int32
	texts      []string         // the sample's search_text
	states     map[string]int32 // accounts of the sample in each state
	sampled    int32            // accounts in the sample
	accounts   float64          // accounts in the table, as the planner counts them
	takenAt    time.Time
	refreshing bool
}

// rarest returns up to n of query's three-character pieces that the trigram index can use, the
// rarest in the sample first (every one while there is no sample yet), as the query has them:
// search_fold lower-cases them in SQL as it does search_text. It draws a new sample in the
// background when the one it has is missing or old.
func (t *trigramSample) rarest(query string, n int, db *DB) []string {
	t.refreshIfStale(db)
	pieces := indexableTrigrams(query)
	t.mu.Lock()
	counts := t.counts
	t.mu.Unlock()
	if counts != nil {
		slices.SortStableFunc(pieces, func(a, b trigram) int { return int(counts[a.folded] - counts[b.folded]) })
		pieces = pieces[:min(n, len(pieces))]
	}
	out := make([]string, len(pieces))
	for i, p := range pieces {
		out[i] = p.raw
	}
	return out
}

// trigram is three characters of a query, as typed and lower-cased.
type trigram struct {
	raw    string
	folded [3]rune
}

// indexableTrigrams lists the distinct three-character pieces of query that pg_trgm indexes
// (letters and digits) and whose lower case is one character each, the same in any locale:
// ASCII, and letters without case such as Chinese. Others (É, Σ, or İ, which lower-cases to
// two characters) are left out, so that every piece lower-cases to a piece of the query's
// lower case.
func indexableTrigrams(query string) []trigram {
	var out []trigram
	var raw, folded []rune // the current run of indexable characters
	for _, r := range query {
		f, ok := foldsAlone(r)
		if !ok || !(unicode.IsLetter(r) || unicode.IsDigit(r)) {
			raw, folded = raw[:0], folded[:0]
			continue
		}
		raw, folded = append(raw, r), append(folded, f)
		if len(raw) >= 3 {
			g := trigram{raw: string(raw[len(raw)-3:]), folded: [3]rune(folded[len(folded)-3:])}
			if !slices.ContainsFunc(out, func(o trigram) bool { return o.folded == g.folded }) {
				out = append(out, g)
			}
		}
	}
	return out
}

// foldsAlone returns r in lower case when every lower-casing agrees on it: ASCII, or a
// character without case.
func foldsAlone(r rune) (rune, bool) {
	if r < utf8.RuneSelf {
		return unicode.ToLower(r), true
	}
	return r, unicode.SimpleFold(r) == r && unicode.ToLower(r) == r && unicode.ToUpper(r) == r
}

func (t *trigramSample) refreshIfStale(db *DB) {
	t.mu.Lock()
	stale := !t.refreshing && time.Since(t.takenAt) > trigramSampleAge
	if stale {
		t.refreshing = true
	}
	t.mu.Unlock()
	if stale {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = t.refresh(ctx, db) // on failure the next search tries again
			t.mu.Lock()
			t.refreshing = false
			t.mu.Unlock()
		}()
	}
}

func (t *trigramSample) refresh(ctx context.Context, db *DB) error {
	// SYSTEM sampling reads whole pages at random: the share of pages that holds about
	// trigramSampleRows rows, from the planner's row count.
	var accounts float64
	if err := db.Pool.QueryRow(ctx, `SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = 'accounts'::regclass`).Scan(&accounts); err != nil {
		return unavailable("sample accounts", err)
	}
	rows, err := db.Pool.Query(ctx, `SELECT search_text, state FROM accounts TABLESAMPLE SYSTEM (
			(SELECT least(100, greatest(0.01, 150.0 * $1 / greatest(reltuples, 1))) FROM pg_class WHERE oid = 'accounts'::regclass))
		LIMIT $1`, trigramSampleRows)
	if err != nil {
		return unavailable("sample accounts", err)
	}
	counts := make(map[[3]rune]int32)
	states := make(map[string]int32)
	var texts []string
	var sampled int32
	var text, state string
	if _, err := pgx.ForEachRow(rows, []any{&text, &state}, func() error {
		runes := []rune(text)
		for i := 0; i+3 <= len(runes); i++ {
			counts[[3]rune(runes[i:i+3])]++
		}
		texts = append(texts, text)
		states[state]++
		sampled++
		return nil
	}); err != nil {
		return unavailable("sample accounts", err)
	}
	t.mu.Lock()
	t.counts, t.texts, t.states, t.sampled, t.accounts, t.takenAt = counts, texts, states, sampled, accounts, time.Now()
	t.mu.Unlock()
	return nil
}

// walkCheaper reports whether the sample says that state holds at most n accounts, and fewer
// than searchHeapCost times the candidates the trigram index would find for pieces (as rarest
// returns them). Without a sample it says no.
func (t *trigramSample) walkCheaper(state string, pieces []string, n int) bool {
	t.mu.Lock()
	texts, sampled, accounts, inState := t.texts, t.sampled, t.accounts, t.states[state]
	t.mu.Unlock()
	if sampled == 0 {
		return false
	}
	share := func(k int) float64 { return accounts * float64(k) / float64(sampled) }
	if share(int(inState)) > float64(n) {
		return false
	}
	folded := make([]string, len(pieces))
	for i, p := range pieces {
		folded[i] = strings.ToLower(p) // the pieces fold alone (see indexableTrigrams)
	}
	candidates := 0
	for _, text := range texts {
		if !slices.ContainsFunc(folded, func(p string) bool { return !strings.Contains(text, p) }) {
			candidates++
		}
	}
	return share(int(inState)) < searchHeapCost*share(candidates)
}
