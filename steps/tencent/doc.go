// Package tencent is a client for the Tencent Meeting (腾讯会议) REST API with AK/SK request signing, and
// the listing logic that turns an enterprise's cloud recordings into pipeline items.
//
// The wire format it follows is docs/tencent-meeting-api.md. Responses are decoded tolerantly (numbers
// sent as strings and strings sent as numbers are both accepted; ids always stay strings) and turned into
// plain Go values with UTC times.
//
// It knows nothing of the pipeline engine: errors carry this package's Kind, limiters and the listing's
// sink are small interfaces, and the run's logger comes in with WithLogger. The tencent_list step
// (steps/tencent_list.go, steps/tencent_source.go) adapts them to the engine. The client makes one
// request per call; only the listing, which has no item for the engine to retry, retries its requests.
package tencent
