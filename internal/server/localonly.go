package server

import (
	"net/http"
	"net/netip"
)

// localOnly serves next only to a client on this machine, and answers everyone else as an unknown
// path (notFound). It guards /metrics on the public listener: its counters move differently for an
// unknown username than for a real one, so a stranger who reads them before and after a sign-in
// learns whether the username exists, which the equal status, body and time of SECURITY.md 8 and 9
// are there to hide. The client is the address the site resolves (site.ClientIP, X-Forwarded-For
// believed from a trusted proxy only), so a proxy relaying an outside client does not count as local.
// A Prometheus on another host scrapes UNLOCKD_METRICS_LISTEN instead, which is not guarded.
func (s *Server) localOnly(next, notFound http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ip, err := netip.ParseAddr(s.site.ClientIP(r)); err == nil && ip.Unmap().IsLoopback() {
			next.ServeHTTP(w, r)
			return
		}
		notFound.ServeHTTP(w, r)
	})
}
