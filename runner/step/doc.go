// Package step is the contract between the engine and the steps it runs: what a step or plugin author
// implements (Step, Source and the optional interfaces beside them), what a step is given (Item, Build,
// Expr, Limiter, Logger), how it says what its errors mean (Permanent, Deferred, RetryAfter,
// Environmental) and how it registers (Register, Define). It imports nothing of the engine.
//
// A step's configuration struct is its spec (Define): tags say the YAML key, doc, default (the value
// given to Define), `required:"true"`, `secret:"true"`, `enum:"a,b"`, `min:"1" max:"16"`,
// `required_if:"mode=corp"` and `memo:"-"` (left out of the memo key: where a server is, its key,
// limits, timeouts). The loader enforces them at the value's line and column; a check the constructor
// makes after decoding reports with Build.ErrorAt("key", …), at the value it is about.
//
// A few names serve hosts rather than steps: NewBuild, Host, Compiler, ExprAt, MarshalField and
// Diagnostics are how the engine (package runner), the test kit (steps/steptest) and the plugin host
// (plugins) make what a step is given.
package step
