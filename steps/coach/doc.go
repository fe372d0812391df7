// Package coach holds the coaching memory's pure parts: the quote check that keeps invented items out,
// the Chinese relative-date resolver for homework due dates, and the stable keys of ledger items. It
// imports nothing of the engine (runner) nor of any service client.
package coach
