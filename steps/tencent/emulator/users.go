package emulator

import (
	"net/http"
	"net/url"
)

// user answers GET /v1/users/{userid} (获取用户详情, the Go SDK's user_manager V1UsersUseridGet; operator_id
// and operator_id_type are required there). A userid the enterprise does not know is 20001 "user does not
// exist" (tencent-meeting-api.md §5, error table D-ERR). Only the fields the client reads are served:
// never a phone number or an e-mail address.
func (s *Server) user(w *statusWriter, r *http.Request, userid string) *apiError {
	if _, e := s.operator(r.URL.Query()); e != nil {
		return e
	}
	id, err := url.PathUnescape(userid)
	if err != nil || id == "" || !s.registered(id) {
		return badRequest(20001, "user does not exist")
	}
	name := id
	s.mu.Lock()
	for _, m := range s.order {
		for _, p := range m.Participants {
			if p.UserID == id && p.Name != "" {
				name = p.Name
			}
		}
	}
	s.mu.Unlock()
	s.writeJSON(w, map[string]any{"userid": id, "username": name, "status": "1"})
	return nil
}
