package runner

// StepSettings returns the interpolated `with:` settings of the first step that uses the step type
// `uses`, for commands that act beside a run (a report mails through the robot wecom_notify posts to).
// Secret values are in it: scrub what is printed with p.Secrets. ok is false when no step uses it.
func (p *Pipeline) StepSettings(uses string) (settings map[string]any, ok bool) {
	for _, s := range p.stages {
		if s.uses != uses {
			continue
		}
		settings = map[string]any{}
		if s.with != nil {
			if err := s.with.Decode(&settings); err != nil {
				return map[string]any{}, true
			}
		}
		return settings, true
	}
	return nil, false
}

// StepImpl returns the built step of the first step that uses the step type `uses`, for commands that act
// beside a run with what the step compiled at load (a report evaluating rules a step declares).
func (p *Pipeline) StepImpl(uses string) (impl any, ok bool) {
	for _, s := range p.stages {
		if s.uses == uses {
			return s.impl, true
		}
	}
	return nil, false
}
