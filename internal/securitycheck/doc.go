// Package securitycheck holds tests that scan the repository's sources
// for settings that must never reach production code, such as skipping
// certificate verification.
package securitycheck
