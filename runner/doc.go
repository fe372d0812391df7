// Package runner is the generic pipeline engine: it loads a YAML pipeline, compiles its expressions, and
// streams items through registered steps with memo, retries, limits and state on local disk.
//
// The engine knows no concrete step. Steps register a Definition (a Spec plus a constructor) in a Registry;
// the CLI registers the built-in ones and any exec plugins before it loads a pipeline.
package runner
