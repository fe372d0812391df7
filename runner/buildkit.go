package runner

import "strings"

// CollectDiagnostics makes b gather its configuration problems in ds, as a load does, so that a test kit
// building one step outside a pipeline (steps/steptest) sees every one with its position.
func (b *Build) CollectDiagnostics(ds *Diagnostics) { b.diags = ds }

// SetSource gives b the text its `with:` node was parsed from, so that an expression in it (a folded
// block, say) is placed at the very name it is wrong about, as in a pipeline file.
func (b *Build) SetSource(src string) { b.lines = strings.Split(src, "\n") }
