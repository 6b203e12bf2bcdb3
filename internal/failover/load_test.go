package failover

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/unlockd/unlockd/internal/servetest"
)

// The load's accounts: wrong passwords go to the first kind, right ones to the second, and each
// code request to a fresh account of the third, so that every answer can be held to what was
// stored and sent.
const (
	wrongAccounts = 40
	rightAccounts = 10
	codeAccounts  = 400
	password      = "failover correct horse battery"
	// wrongBudget keeps every account below the lockout threshold (10), whatever became of the
	// attempts answered 503.
	wrongBudget = 8
)

func accountNames() (wrong, right, code []string) {
	for i := range wrongAccounts {
		wrong = append(wrong, fmt.Sprintf("wrong%02d", i))
	}
	for i := range rightAccounts {
		right = append(right, fmt.Sprintf("right%02d", i))
	}
	for i := range codeAccounts {
		code = append(code, fmt.Sprintf("code%03d", i))
	}
	return wrong, right, code
}

// answer is one request of the load and how it was answered.
type answer struct {
	server     int
	op         string // wrong, right, code, api
	account    string
	sent, done time.Time
	status     int
	retryAfter string
	session    string // the session cookie a sign-in set
	err        error
}

// load sends a mixed load to the servers until it is stopped, and keeps every answer.
type load struct {
	servers []*servetest.Process
	token   string
	client  *http.Client
	wrong   []string
	right   []string
	code    []string

	next      atomic.Int64
	mu        sync.Mutex
	answers   []answer
	wrongSent map[string]int
	codeNext  int
	passwords atomic.Int64
}

func newLoad(servers []*servetest.Process, token string) *load {
	wrong, right, code := accountNames()
	return &load{servers: servers, token: token, wrong: wrong, right: right, code: code, wrongSent: map[string]int{},
		client: &http.Client{Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// run sends requests from clients goroutines until ctx ends.
func (l *load) run(ctx context.Context, clients int) {
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				l.one(l.next.Add(1))
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
}

// one sends the i-th request: the kinds take turns, and the servers every round.
func (l *load) one(i int64) {
	server := int(i/4) % len(l.servers)
	a := answer{server: server}
	switch i % 4 {
	case 0:
		if a.account = l.takeWrong(); a.account != "" {
			a.op = "wrong"
			l.post(&a, "/login", url.Values{"username": {a.account},
				"password": {fmt.Sprintf("wrong password %d", l.passwords.Add(1))}})
			break
		}
		fallthrough
	case 1:
		a.op, a.account = "right", l.right[int(i/4)%len(l.right)]
		l.post(&a, "/login", url.Values{"username": {a.account}, "password": {password}})
	case 2:
		if a.account = l.takeCode(); a.account != "" {
			a.op = "code"
			l.post(&a, "/login/code", url.Values{"username": {a.account}})
			break
		}
		fallthrough
	default:
		a.op, a.account = "api", l.wrong[int(i)%len(l.wrong)]
		path := "/api/v1/accounts/" + a.account
		if i%8 == 3 {
			path = "/api/v1/audit?limit=5"
		}
		l.get(&a, path)
	}
	l.mu.Lock()
	l.answers = append(l.answers, a)
	l.mu.Unlock()
}

// takeWrong picks an account with wrong attempts left, and counts the one about to be sent.
func (l *load) takeWrong() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	start := rand.IntN(len(l.wrong))
	for k := range l.wrong {
		name := l.wrong[(start+k)%len(l.wrong)]
		if l.wrongSent[name] < wrongBudget {
			l.wrongSent[name]++
			return name
		}
	}
	return ""
}

// takeCode picks the next account that has never asked for a code.
func (l *load) takeCode() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.codeNext == len(l.code) {
		return ""
	}
	l.codeNext++
	return l.code[l.codeNext-1]
}

func (l *load) post(a *answer, path string, form url.Values) {
	req, _ := http.NewRequest(http.MethodPost, l.servers[a.server].URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	l.do(a, req)
}

func (l *load) get(a *answer, path string) {
	req, _ := http.NewRequest(http.MethodGet, l.servers[a.server].URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+l.token)
	l.do(a, req)
}

// do sends req from a client address of its own and notes the answer.
func (l *load) do(a *answer, req *http.Request) {
	req.Header.Set("X-Forwarded-For", fmt.Sprintf("10.%d.%d.%d", rand.IntN(256), rand.IntN(256), 1+rand.IntN(254)))
	a.sent = time.Now()
	res, err := l.client.Do(req)
	a.done = time.Now()
	if err != nil {
		a.err = err
		return
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	a.status, a.retryAfter = res.StatusCode, res.Header.Get("Retry-After")
	for _, c := range res.Cookies() {
		if strings.HasSuffix(c.Name, "unlockd_session") && c.Value != "" && c.MaxAge >= 0 {
			a.session = c.Name + "=" + c.Value
		}
	}
}

// snapshot is every answer so far.
func (l *load) snapshot() []answer {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]answer(nil), l.answers...)
}
