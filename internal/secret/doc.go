// Package secret provides password hashing, one-time codes and tokens.
//
// Passwords are hashed with argon2id and encoded as PHC strings
// ($argon2id$v=19$m=...,t=...,p=...$salt$hash), exactly as the reference
// implementation does. Verification also accepts bcrypt hashes ($2a$, $2b$,
// $2y$) so that accounts imported from other systems keep working; such
// hashes, and argon2id hashes with outdated parameters, are reported as
// needing a rehash on the next successful sign-in.
//
// Imported hashes are untrusted input: parsing never panics, and hashes
// whose parameters would let a single verification exhaust memory or CPU are
// refused as malformed (see ErrMalformedHash).
//
// Hasher bounds how many hashes run at once, so a burst of sign-ins cannot
// exhaust memory, with a priority lane for the people the service knows
// (WithPriority), a dummy verification for unknown users, and a turn in its
// queue that holds no worker (Turn), for a refusal that waits as a check would.
//
// CheckTimes keeps the recent times of real password checks, so that a
// refusal that needs no check can take as long as one without hashing.
//
// NewToken, HashToken and NewCode build the random tokens and one-time codes
// used by the unlock flows.
package secret
