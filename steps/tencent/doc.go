// Package tencent is a client for the Tencent Meeting (腾讯会议) REST API with AK/SK request signing, and
// the listing logic that turns an enterprise's cloud recordings into pipeline items.
//
// The wire format it follows is docs/tencent-meeting-api.md. Responses are decoded tolerantly (numbers
// sent as strings and strings sent as numbers are both accepted; ids always stay strings) and turned into
// plain Go values with UTC times.
package tencent
