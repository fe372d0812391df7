package runner

// CollectDiagnostics makes b gather its configuration problems in ds, as a load does, so that a test kit
// building one step outside a pipeline (steps/steptest) sees every one with its position.
func (b *Build) CollectDiagnostics(ds *Diagnostics) { b.diags = ds }
