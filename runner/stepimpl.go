package runner

// StepImpl returns the built step of the first step that uses the step type `uses`, for commands that act
// beside a run with what the step decoded and compiled at load (a report reading the phases a step
// classifies into, or evaluating rules it declares). The step's package gives it a typed view: the
// built value's type is its own.
func (p *Pipeline) StepImpl(uses string) (impl any, ok bool) {
	for _, s := range p.stages {
		if s.uses == uses {
			return s.impl, true
		}
	}
	return nil, false
}
