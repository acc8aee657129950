package akvcredstest

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const imdsTokenPath = "/metadata/identity/oauth2/token"

func imdsError(w http.ResponseWriter, status int, code, desc string) {
	imdsHeaders(w)
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func imdsHeaders(w http.ResponseWriter) {
	w.Header().Set("Server", "IMDS/150.870.65.1544")
}

// serveIMDS answers the managed-identity endpoint
// GET /metadata/identity/oauth2/token on the plain-HTTP listener.
func (s *Server) serveIMDS(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != imdsTokenPath {
		imdsHeaders(w)
		http.Error(w, "Not found", http.StatusNotFound)
		return
	}
	q := decodedQuery(r.URL.RawQuery)
	if status, desc := checkIMDSRequest(r, q); status != 0 {
		imdsError(w, status, "invalid_request", desc)
		return
	}
	sel, val, n := imdsSelector(q)
	if n > 1 {
		imdsError(w, http.StatusBadRequest, "invalid_request", "Only one of client_id, object_id, msi_res_id or mi_res_id may be specified")
		return
	}
	mi, ok := s.findIdentity(sel, val)
	if !ok {
		imdsError(w, http.StatusBadRequest, "invalid_request", "Identity not found")
		return
	}
	s.writeIMDSToken(w, q.Get("resource"), mi)
}

// checkIMDSRequest checks the method, the Metadata header and the required
// query parameters, in IMDS's order; it returns 0 for a valid request, else
// the status and description of the error.
func checkIMDSRequest(r *http.Request, q url.Values) (int, string) {
	switch {
	case r.Method != http.MethodGet:
		return http.StatusMethodNotAllowed, "Method not allowed"
	case r.Header.Get("Metadata") != "true":
		return http.StatusBadRequest, "Required metadata header not specified"
	case q.Get("api-version") == "":
		return http.StatusBadRequest, "Required query variable 'api-version' is missing"
	case q.Get("resource") == "":
		return http.StatusBadRequest, "Required audience parameter not specified"
	}
	return 0, ""
}

// imdsSelectors are the query parameters that select a user-assigned
// identity, with the identity's field each one matches.
var imdsSelectors = []struct {
	param string
	field func(*managedIdentity) string
}{
	{"client_id", func(m *managedIdentity) string { return m.ClientID }},
	{"object_id", func(m *managedIdentity) string { return m.ObjectID }},
	{"msi_res_id", func(m *managedIdentity) string { return m.ResourceID }},
	{"mi_res_id", func(m *managedIdentity) string { return m.ResourceID }},
}

// imdsSelector returns the index in imdsSelectors of the selector the query
// uses (-1 for none: the system-assigned identity), its value, and how many
// selectors the query has.
func imdsSelector(q url.Values) (sel int, val string, n int) {
	sel = -1
	for i, is := range imdsSelectors {
		if v := q.Get(is.param); v != "" {
			sel, val = i, v
			n++
		}
	}
	return sel, val, n
}

// findIdentity returns a copy of the identity the selector names: the
// system-assigned one without a selector (or by its client ID), else the
// user-assigned one whose field matches.
func (s *Server) findIdentity(sel int, val string) (managedIdentity, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sel < 0 {
		if s.systemMI == nil {
			return managedIdentity{}, false
		}
		return *s.systemMI, true
	}
	var mi *managedIdentity
	for _, m := range s.mis {
		if strings.EqualFold(imdsSelectors[sel].field(m), val) {
			mi = m
		}
	}
	if mi == nil && s.systemMI != nil && imdsSelectors[sel].param == "client_id" && strings.EqualFold(val, s.systemMI.ClientID) {
		mi = s.systemMI
	}
	if mi == nil {
		return managedIdentity{}, false
	}
	return *mi, true
}

// writeIMDSToken answers with an access token of mi for resource, in IMDS's
// shape (numbers as strings).
func (s *Server) writeIMDSToken(w http.ResponseWriter, resource string, mi managedIdentity) {
	principal := mi.ClientID
	mirid := mi.ResourceID
	if mi.system {
		principal = SystemAssigned
		mirid = "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/emulator/providers/Microsoft.Compute/virtualMachines/emulator"
	}
	now := s.now()
	tok, _ := s.issueToken(resource, mi.TenantID, mi.ClientID, mi.ObjectID, principal, mirid, now)
	life := int64(s.cfg.tokenLifetime / time.Second)
	imdsHeaders(w)
	writeJSON(w, http.StatusOK, map[string]string{
		"access_token":   tok,
		"client_id":      mi.ClientID,
		"expires_in":     strconv.FormatInt(life, 10),
		"expires_on":     strconv.FormatInt(now.Unix()+life, 10),
		"ext_expires_in": strconv.FormatInt(life, 10),
		"not_before":     strconv.FormatInt(now.Unix(), 10),
		"resource":       resource,
		"token_type":     "Bearer",
	})
}
