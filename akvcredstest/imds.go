package akvcredstest

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

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
	if r.URL.Path != "/metadata/identity/oauth2/token" {
		imdsHeaders(w)
		http.Error(w, "Not found", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodGet {
		imdsError(w, http.StatusMethodNotAllowed, "invalid_request", "Method not allowed")
		return
	}
	if r.Header.Get("Metadata") != "true" {
		imdsError(w, http.StatusBadRequest, "invalid_request", "Required metadata header not specified")
		return
	}
	q := decodedQuery(r.URL.RawQuery)
	if q.Get("api-version") == "" {
		imdsError(w, http.StatusBadRequest, "invalid_request", "Required query variable 'api-version' is missing")
		return
	}
	resource := q.Get("resource")
	if resource == "" {
		imdsError(w, http.StatusBadRequest, "invalid_request", "Required audience parameter not specified")
		return
	}
	var sel, val string
	n := 0
	for _, k := range []string{"client_id", "object_id", "msi_res_id", "mi_res_id"} {
		if v := q.Get(k); v != "" {
			sel, val = k, v
			n++
		}
	}
	if n > 1 {
		imdsError(w, http.StatusBadRequest, "invalid_request", "Only one of client_id, object_id, msi_res_id or mi_res_id may be specified")
		return
	}
	s.mu.Lock()
	var mi *managedIdentity
	if sel == "" {
		mi = s.systemMI
	} else {
		for _, m := range s.mis {
			var have string
			switch sel {
			case "client_id":
				have = m.ClientID
			case "object_id":
				have = m.ObjectID
			default:
				have = m.ResourceID
			}
			if strings.EqualFold(have, val) {
				mi = m
			}
		}
		if mi == nil && s.systemMI != nil && sel == "client_id" && strings.EqualFold(val, s.systemMI.ClientID) {
			mi = s.systemMI
		}
	}
	var found managedIdentity
	if mi != nil {
		found = *mi
	}
	s.mu.Unlock()
	if mi == nil {
		imdsError(w, http.StatusBadRequest, "invalid_request", "Identity not found")
		return
	}
	principal := found.ClientID
	mirid := found.ResourceID
	if found.system {
		principal = SystemAssigned
		mirid = "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/emulator/providers/Microsoft.Compute/virtualMachines/emulator"
	}
	now := s.now()
	tok, _ := s.issueToken(resource, found.TenantID, found.ClientID, found.ObjectID, principal, mirid, now)
	life := int64(s.cfg.tokenLifetime / time.Second)
	imdsHeaders(w)
	writeJSON(w, http.StatusOK, map[string]string{
		"access_token":   tok,
		"client_id":      found.ClientID,
		"expires_in":     strconv.FormatInt(life, 10),
		"expires_on":     strconv.FormatInt(now.Unix()+life, 10),
		"ext_expires_in": strconv.FormatInt(life, 10),
		"not_before":     strconv.FormatInt(now.Unix(), 10),
		"resource":       resource,
		"token_type":     "Bearer",
	})
}
