package postgres_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/pgtest"
	"github.com/unlockd/unlockd/internal/postgres"
)

// searchFixture is one account as the search sees it.
type searchFixture struct {
	username, email, phone, name string
	state                        account.State
}

// searchFixtures makes 1,200 accounts with prefixes that crowd one end of the username order,
// shared email domains, phones, Latin and Chinese names, and a few locked accounts.
func searchFixtures() []searchFixture {
	surnames := []string{"王", "李", "张", "刘", "诸葛", "欧阳"}
	given := []string{"伟", "芳", "娜", "敏", "静", "明", "小红"}
	var out []searchFixture
	for i := range 1200 {
		f := searchFixture{
			username: fmt.Sprintf("u%04d", i),
			email:    fmt.Sprintf("u%04d@corp%d.example.com", i, i%7),
			state:    account.StateActive,
		}
		switch {
		case i%5 == 0:
			f.username = fmt.Sprintf("zhang.%d", i) // a crowd at the far end of the order
		case i%11 == 0:
			f.username = fmt.Sprintf("Mixed_Case-%d", i)
		}
		if i%3 == 0 {
			f.phone = fmt.Sprintf("+86138%08d", i*7919)
		}
		if i%2 == 0 {
			f.name = surnames[i%len(surnames)] + given[i/7%len(given)]
		} else {
			f.name = fmt.Sprintf("Person %x", i*2654435761%1000003)
		}
		switch i {
		case 17:
			f.name = "Percent 100% under_score back\\slash"
		case 18, 1118:
			f.name = "Émile Zola"
		}
		if i%13 == 0 {
			f.state = account.StateLocked
		}
		out = append(out, f)
	}
	return out
}

// expectedSearch is the search's definition, by brute force: accounts whose username starts with
// the query, then the others that contain it anywhere, each in byte order of the lower-case
// username. (Go and PostgreSQL agree on the lower case of the fixtures.)
func expectedSearch(fs []searchFixture, query string, state account.State) []string {
	q := strings.ToLower(query)
	var first, others []string
	for _, f := range fs {
		if state != "" && f.state != state {
			continue
		}
		key := strings.ToLower(f.username)
		text := key + "\n" + strings.ToLower(f.email) + "\n" + strings.ToLower(f.name) + "\n" + f.phone
		switch {
		case strings.HasPrefix(key, q):
			first = append(first, key)
		case strings.Contains(text, q):
			others = append(others, key)
		}
	}
	slices.Sort(first)
	slices.Sort(others)
	return append(first, others...)
}

func TestSearchFindsWhatASubstringScanFinds(t *testing.T) {
	db := mustDB(t)
	ctx := context.Background()
	fixtures := searchFixtures()
	batch := `INSERT INTO accounts (username, email, phone, display_name, state) VALUES `
	var args []any
	for i, f := range fixtures {
		if i > 0 {
			batch += ","
		}
		n := len(args)
		batch += fmt.Sprintf("($%d, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5)
		args = append(args, f.username, f.email, f.phone, f.name, string(f.state))
	}
	if _, err := db.Pool.Exec(ctx, batch, args...); err != nil {
		t.Fatal(err)
	}
	queries := []string{
		"", "zhang", "ZHANG.1", "u00", "u0999", "corp3", "corp3.example.com", "u0042@corp0.example.com",
		"+86138", "13800", "7919", "张", "张伟", "诸葛", "欧阳小红", "小红", "person 1", "e", "1", "0", "qq",
		"%", "_", "\\", "ÉMILE", "émile z", "100% under", "under_score", "mixed_case", "nobody-has-this", ".", "@",
		// Two letters no index serves, whose other matches (the e-mail addresses of zhang.* and
		// Mixed_Case-* accounts) lie on both sides of the usernames that start with them: a
		// partial page's walk stops among those usernames.
		"u0", "U0", "zh",
	}
	// Pages that stopped short with accounts left, and those whose stopping username starts with
	// the query: the paths the continuation must get right, which small windows reach.
	partialPages, stopsInTierOne := 0, 0
	for _, walk := range []int{1, 25, 40, 100, postgres.DefaultSearchWalk} {
		for _, sampled := range []bool{false, true} {
			store := postgres.NewStores(db).Admin
			store.SetSearchWalk(walk)
			if sampled {
				// The planner's count of accounts, which the sample scales to the table.
				if _, err := db.Pool.Exec(ctx, `ANALYZE accounts`); err != nil {
					t.Fatal(err)
				}
				if err := store.PrepareSearch(ctx); err != nil {
					t.Fatal(err)
				}
			} else {
				store.WithoutSearchSample()
			}
			for _, query := range queries {
				for _, state := range []account.State{"", account.StateLocked} {
					want := expectedSearch(fixtures, query, state)
					got, stops := searchEveryPage(t, store, fixtures, walk, account.AccountSearch{Query: query, State: state, Limit: 7})
					partialPages += len(stops)
					for _, stop := range stops {
						if strings.HasPrefix(stop, strings.ToLower(query)) {
							stopsInTierOne++
						}
					}
					if !slices.Equal(got, want) {
						t.Errorf("walk %d, sample %v: %q in state %q: %d results, want %d\n got  %.300q\n want %.300q",
							walk, sampled, query, state, len(got), len(want), got, want)
					}
				}
			}
		}
	}
	if partialPages == 0 || stopsInTierOne == 0 {
		t.Errorf("%d partial pages, %d of them stopped at a username starting with the query: the continuation is not exercised",
			partialPages, stopsInTierOne)
	}
}

// searchEveryPage follows a search page by page as the dashboard does: after the last username
// of a full page, or on from where a partial page stopped. It returns the usernames found and
// where the partial pages stopped, and checks that a partial page walked at most the bound.
func searchEveryPage(t *testing.T, store *postgres.Admin, fs []searchFixture, walk int, q account.AccountSearch) (got, stops []string) {
	t.Helper()
	var keys []string // the keys a walk of q.State reads, in order
	for _, f := range fs {
		if q.State == "" || f.state == q.State {
			keys = append(keys, strings.ToLower(f.username))
		}
	}
	slices.Sort(keys)
	query := strings.ToLower(q.Query)
	for range 1000 {
		page, err := store.SearchAccounts(context.Background(), q)
		if err != nil {
			t.Fatalf("walk %d, %+v: %v", walk, q, err)
		}
		for _, a := range page.Accounts {
			got = append(got, strings.ToLower(a.Username))
		}
		if !page.Partial() {
			if len(page.Accounts) < q.Limit {
				return got, stops
			}
			q.After, q.Others = page.Accounts[len(page.Accounts)-1].Username, false
			continue
		}
		stop := strings.ToLower(page.SearchedTo)
		stops = append(stops, stop)
		if len(page.Accounts) >= q.Limit {
			t.Fatalf("walk %d, %+v: a full page says it stopped at %q", walk, q, stop)
		}
		// The other matches are walked from the start, or from a page's last one.
		from := strings.ToLower(q.After)
		if !q.Others && (from == "" || strings.HasPrefix(from, query)) {
			from = ""
		}
		if walked := countBetween(keys, from, stop); walked > postgres.SearchWalkBound*walk {
			t.Fatalf("walk %d, %+v: the page walked %d accounts, from %q to %q; the bound is %d",
				walk, q, walked, from, stop, postgres.SearchWalkBound*walk)
		}
		q = page.Continue(q)
	}
	t.Fatalf("walk %d, %+v: a thousand pages and no end", walk, q)
	return nil, nil
}

// countBetween counts the sorted keys after from, up to and including to.
func countBetween(keys []string, from, to string) int {
	lo, _ := slices.BinarySearch(keys, from)
	if lo < len(keys) && keys[lo] == from {
		lo++
	}
	hi, found := slices.BinarySearch(keys, to)
	if found {
		hi++
	}
	return hi - lo
}

// The search's generated columns follow every change of what they are made of.
func TestSearchFollowsChangesToAnAccount(t *testing.T) {
	db := mustDB(t)
	ctx := context.Background()
	store := postgres.NewStores(db).Admin
	if _, err := db.Pool.Exec(ctx, `INSERT INTO accounts (username, email, display_name) VALUES ('li.na', 'li.na@corp.example.com', '李娜')`); err != nil {
		t.Fatal(err)
	}
	find := func(q string) int {
		page, err := store.SearchAccounts(ctx, account.AccountSearch{Query: q, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		return len(page.Accounts)
	}
	if find("李娜") != 1 || find("corp.example") != 1 {
		t.Fatal("a new account is not found")
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE accounts SET display_name = '王芳', email = 'wf@other.example.com', phone = '+8613912345678'`); err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string]int{"李娜": 0, "王芳": 1, "corp.example": 0, "other.example": 1, "13912345678": 1} {
		if got := find(q); got != want {
			t.Errorf("after the change, %q finds %d, want %d", q, got, want)
		}
	}
}

// In a database whose locale lower-cases I to ı (Turkish), usernames still sort and page as
// ASCII, and a search still finds every match.
func TestSearchInATurkishDatabase(t *testing.T) {
	ctx := context.Background()
	baseURL := pgtestURL(t)
	base, err := postgres.Open(ctx, baseURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	// PostgreSQL as Debian builds it has ICU; without it this test cannot say anything.
	if _, err := base.Pool.Exec(ctx, `CREATE DATABASE search_tr LOCALE_PROVIDER icu ICU_LOCALE 'tr-TR' LOCALE 'C' TEMPLATE template0`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if db, err := postgres.Open(context.Background(), baseURL, nil); err == nil {
			_, _ = db.Pool.Exec(context.Background(), `DROP DATABASE search_tr WITH (FORCE)`)
			db.Close()
		}
	})
	u, err := url.Parse(baseURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/search_tr"
	if err := pgtest.Migrate(ctx, u.String()); err != nil {
		t.Fatal(err)
	}
	db, err := postgres.Open(ctx, u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Pool.Exec(ctx, `INSERT INTO accounts (username, email, display_name) VALUES
		('alpha', 'a@x.example.com', ''), ('igor', 'g@x.example.com', ''), ('Ira', 'r@x.example.com', ''),
		('Iris', 'i@x.example.com', ''), ('Ivan', 'v@x.example.com', 'IVAN Petrov'), ('jack', 'j@x.example.com', ''),
		('kate', 'k@x.example.com', 'Katie Ivanova'), ('mike', 'm@x.example.com', ''), ('zed', 'z@x.example.com', '')`); err != nil {
		t.Fatal(err)
	}
	for _, walk := range []int{1, postgres.DefaultSearchWalk} {
		store := postgres.NewStores(db).Admin
		store.SetSearchWalk(walk)
		store.WithoutSearchSample()
		for query, want := range map[string]string{
			"":     "alpha igor ira iris ivan jack kate mike zed",
			"i":    "igor ira iris ivan kate mike", // usernames starting with i first
			"ivan": "ivan kate",
		} {
			var got []string
			q := account.AccountSearch{Query: query, Limit: 3}
			for range 10 {
				page, err := store.SearchAccounts(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				for _, a := range page.Accounts {
					got = append(got, strings.ToLower(a.Username))
				}
				if page.Partial() {
					q = page.Continue(q)
					continue
				}
				if len(page.Accounts) < 3 {
					break
				}
				q.After, q.Others = page.Accounts[len(page.Accounts)-1].Username, false
			}
			if strings.Join(got, " ") != want {
				t.Errorf("walk %d: %q pages to %q, want %q", walk, query, strings.Join(got, " "), want)
			}
		}
	}
}
