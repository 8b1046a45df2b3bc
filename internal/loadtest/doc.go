// Package loadtest holds the stress and soak runs of the mTLS server. They
// take minutes and print figures, so they are behind build tags and run by
// `make stress` and `make soak`, not by `make test`. All traffic goes to
// loopback listeners the runs open themselves, and every loop is bounded in
// count and time.
package loadtest
