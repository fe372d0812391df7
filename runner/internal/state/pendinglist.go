package state

import "meetpipe/runner/step"

// ReadPending returns the items the runs of the state directory dir left to look at again, with their
// reasons and when they were first seen. It reads without taking the run lock, so a report can be made
// while a run is going; the file is replaced atomically, so what it reads is whole.
func ReadPending(dir string) ([]step.Pending, error) {
	st, err := Open(dir, true)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return st.Pending()
}
