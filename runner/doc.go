// Package runner is the generic pipeline engine: it loads a YAML pipeline, compiles its expressions, and
// streams items through registered steps with memo, retries, limits and state on local disk.
//
// The engine knows no concrete step. Steps implement the contract of package runner/step and register a
// Definition there; the CLI registers the built-in ones and any exec plugins before it loads a pipeline.
// What the host needs beside the engine (the state directory, the logger, the progress line) lives in
// runner/internal and is not for steps.
package runner
