//go:build !linux

package secret

import "time"

// sleepPrecisely sleeps d as well as the runtime's timers can on this system.
func sleepPrecisely(d time.Duration) { time.Sleep(d) }
