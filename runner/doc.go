// Package runner is the generic pipeline engine: it loads a YAML pipeline, compiles its expressions, and
// streams items through registered steps with memo, retries, limits and state on local disk.
//
// The engine knows no concrete step. Steps register a Definition (a Spec plus a constructor) in a Registry;
// the CLI registers the built-in ones and any exec plugins before it loads a pipeline.
//
// A step's configuration struct is its spec (Define): tags say the YAML key, doc, default (the value
// given to Define), `required:"true"`, `secret:"true"`, `enum:"a,b"`, `min:"1" max:"16"`,
// `required_if:"mode=corp"` and `memo:"-"` (left out of the memo key: where a server is, its key,
// limits, timeouts). The loader enforces them at the value's line and column; a check the constructor
// makes after decoding reports with Build.ErrorAt("key", …), at the value it is about.
package runner
