// Package failover proves that unlockd survives a failover of PostgreSQL: two `unlockd serve`
// processes on a primary with a synchronous streaming standby, under a mixed load, while the
// primary crashes and the standby is promoted. It holds only tests; nothing imports it.
package failover
