package akvcredstest_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds/akvcredstest"
)

// The recorded answers of the operations azsecrets' own tests use (see
// testdata/recordings/README.md), replayed against the emulator with the
// recordings' names, so that error bodies compare byte for byte and the
// others by shape.

const goldenQuery = "?api-version=2026-03-01-preview"

// goldenServer is a vault set up as the recordings' test vault: a 7-day
// soft-delete retention, purge allowed.
func goldenServer(t *testing.T) (*akvcredstest.Server, string) {
	t.Helper()
	s := akvcredstest.NewTestServer(t)
	s.AddVault("golden", akvcredstest.VaultRetentionDays(7))
	return s, rawToken(t, s, "https://vault.azure.net/.default")
}

// sameBody fails the test unless body is the recorded body, compacted.
func sameBody(t *testing.T, rec recording, resp *http.Response, body []byte) {
	t.Helper()
	if resp.StatusCode != rec.StatusCode {
		t.Errorf("status %d, recorded %d", resp.StatusCode, rec.StatusCode)
	}
	if want := compactOrdered(t, rec.ResponseBody); string(body) != want {
		t.Errorf("body\n got: %s\nwant: %s", body, want)
	}
}

// compactOrdered is raw without insignificant space, keys in their order.
func compactOrdered(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// sameAttributes compares the recoveryLevel and recoverableDays of an
// answer with the recording's.
func sameAttributes(t *testing.T, rec recording, body []byte) {
	t.Helper()
	type attrs struct {
		Attributes struct {
			RecoveryLevel   string `json:"recoveryLevel"`
			RecoverableDays int    `json:"recoverableDays"`
		} `json:"attributes"`
	}
	var got, want attrs
	if json.Unmarshal(body, &got) != nil || json.Unmarshal(rec.ResponseBody, &want) != nil || got != want {
		t.Errorf("attributes %+v, recorded %+v", got.Attributes, want.Attributes)
	}
}

func TestGoldenCRUD(t *testing.T) {
	s, tok := goldenServer(t)
	const name = "secret518723441"
	base := "https://golden.vault.azure.net"
	v := s.SetSecret("golden", name, "value518723441", akvcredstest.ContentType("big secret"),
		akvcredstest.Tags(map[string]string{"tag": "value"}), akvcredstest.NotBefore(time.Unix(1893459661, 0)))

	rec := loadRecording(t, "kv-update-secret.json")
	resp, body := do(t, s, http.MethodPatch, base+"/secrets/"+name+"/"+v+goldenQuery, tok, strings.NewReader(`{"attributes":{"exp":2208992461}}`))
	compareResponse(t, rec, resp, body)
	sameAttributes(t, rec, body)

	rec = loadRecording(t, "kv-delete-secret.json")
	resp, body = do(t, s, http.MethodDelete, base+"/secrets/"+name+goldenQuery, tok, nil)
	compareResponse(t, rec, resp, body)
	sameAttributes(t, rec, body)
	var del, recDel struct{ DeletedDate, ScheduledPurgeDate int64 }
	if json.Unmarshal(body, &del) != nil || json.Unmarshal(rec.ResponseBody, &recDel) != nil ||
		del.ScheduledPurgeDate-del.DeletedDate != recDel.ScheduledPurgeDate-recDel.DeletedDate {
		t.Errorf("purge date %+v, recorded %+v", del, recDel)
	}

	rec = loadRecording(t, "kv-get-deleted-secret.json")
	resp, body = do(t, s, http.MethodGet, base+"/deletedsecrets/"+name+goldenQuery, tok, nil)
	compareResponse(t, rec, resp, body)

	rec = loadRecording(t, "kv-purge-deleted-secret.json")
	resp, body = do(t, s, http.MethodDelete, base+"/deletedsecrets/"+name+goldenQuery, tok, nil)
	if resp.StatusCode != rec.StatusCode || len(body) != 0 {
		t.Errorf("purge: %d %q", resp.StatusCode, body)
	}
	for h := range rec.ResponseHeaders {
		if resp.Header.Get(h) == "" {
			t.Errorf("purge: header %s missing", h)
		}
	}
	for _, h := range []string{"Content-Type", "Content-Length"} {
		if _, ok := resp.Header[h]; ok {
			t.Errorf("purge: header %s present, Azure sends none", h)
		}
	}

	// After the purge, as in the recording before the delete completed.
	resp, body = do(t, s, http.MethodGet, base+"/deletedsecrets/"+name+goldenQuery, tok, nil)
	sameBody(t, loadRecording(t, "kv-get-deleted-secret-404.json"), resp, body)
}

func TestGoldenRecover(t *testing.T) {
	s, tok := goldenServer(t)
	const name = "secret422508987"
	base := "https://golden.vault.azure.net"
	s.SetSecret("golden", name, "value422508987")
	s.DeleteSecret("golden", name)
	resp, body := do(t, s, http.MethodGet, base+"/secrets/"+name+"/"+goldenQuery, tok, nil)
	sameBody(t, loadRecording(t, "kv-get-secret-after-delete-404.json"), resp, body)
	rec := loadRecording(t, "kv-recover-secret.json")
	resp, body = do(t, s, http.MethodPost, base+"/deletedsecrets/"+name+"/recover"+goldenQuery, tok, nil)
	compareResponse(t, rec, resp, body)
	sameAttributes(t, rec, body)
}

func TestGoldenListDeletedSecrets(t *testing.T) {
	s, tok := goldenServer(t)
	names := []string{"testbackupsecret1387819847", "secret23245351623", "secret13245351623"}
	for _, n := range names {
		s.SetSecret("golden", n, "v")
		s.DeleteSecret("golden", n)
	}
	rec := loadRecording(t, "kv-list-deleted-secrets.json")
	resp, body := do(t, s, http.MethodGet, "https://golden.vault.azure.net/deletedsecrets"+goldenQuery, tok, nil)
	compareResponse(t, rec, resp, body)
	idNames := func(raw []byte) []string {
		var page struct {
			Value []struct{ ID string } `json:"value"`
		}
		if err := json.Unmarshal(raw, &page); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, it := range page.Value {
			out = append(out, it.ID[strings.LastIndex(it.ID, "/")+1:])
		}
		return out
	}
	if got, want := strings.Join(idNames(body), " "), strings.Join(idNames(rec.ResponseBody), " "); got != want {
		t.Errorf("order %s, recorded %s", got, want)
	}
}

func TestGoldenListVersions(t *testing.T) {
	s, tok := goldenServer(t)
	const name = "listversions2628844972"
	var versions []string
	for range 3 {
		versions = append(versions, s.SetSecret("golden", name, "v", akvcredstest.ContentType("content-type"),
			akvcredstest.Tags(map[string]string{"tag": "value"}),
			akvcredstest.NotBefore(time.Unix(2208992461, 0)), akvcredstest.Expires(time.Unix(2524611661, 0))))
	}
	rec := loadRecording(t, "kv-list-versions.json")
	resp, body := do(t, s, http.MethodGet, "https://golden.vault.azure.net/secrets/"+name+"/versions"+goldenQuery, tok, nil)
	compareResponse(t, rec, resp, body)
	var page struct {
		Value []struct{ ID string } `json:"value"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatal(err)
	}
	sort.Strings(versions)
	var got []string
	for _, it := range page.Value {
		got = append(got, it.ID[strings.LastIndex(it.ID, "/")+1:])
	}
	if strings.Join(got, " ") != strings.Join(versions, " ") {
		t.Errorf("versions %v, want sorted by id %v", got, versions)
	}

	// A secret that does not exist has no versions; 200, not 404.
	resp, body = do(t, s, http.MethodGet, "https://golden.vault.azure.net/secrets/listSecretName-canlistsecretversionsnonexisting-/versions?api-version=7.4-preview.1", tok, nil)
	sameBody(t, loadRecording(t, "kv-list-versions-nonexisting.json"), resp, body)
}

func TestGoldenBackupRestore(t *testing.T) {
	s, tok := goldenServer(t)
	const name = "testbackupsecret1387819847"
	base := "https://golden.vault.azure.net"
	v := s.SetSecret("golden", name, "value1387819847")
	resp, body := do(t, s, http.MethodPost, base+"/secrets/"+name+"/backup"+goldenQuery, tok, nil)
	var bk struct{ Value string }
	if resp.StatusCode != 200 || json.Unmarshal(body, &bk) != nil || bk.Value == "" {
		t.Fatalf("backup: %d %s", resp.StatusCode, body)
	}
	if _, err := base64.RawURLEncoding.DecodeString(bk.Value); err != nil {
		t.Errorf("backup value is not base64url without padding: %v", err)
	}
	restoreBody := `{"value":"` + bk.Value + `"}`

	// The recorded conflict names the recorded vault and version.
	rec := loadRecording(t, "kv-restore-conflict-409.json")
	resp, body = do(t, s, http.MethodPost, base+"/secrets/restore"+goldenQuery, tok, strings.NewReader(restoreBody))
	want := strings.NewReplacer("https://cpazsec21435.vault.azure.net", base, "b711aa206cba403b846a35737be08930", v).
		Replace(compactOrdered(t, rec.ResponseBody))
	if resp.StatusCode != rec.StatusCode || string(body) != want {
		t.Errorf("restore conflict: %d\n got: %s\nwant: %s", resp.StatusCode, body, want)
	}

	s.DeleteSecret("golden", name)
	s.PurgeDeletedSecret("golden", name)
	rec = loadRecording(t, "kv-restore-secret.json")
	resp, body = do(t, s, http.MethodPost, base+"/secrets/restore"+goldenQuery, tok, strings.NewReader(restoreBody))
	compareResponse(t, rec, resp, body)
	sameAttributes(t, rec, body)

	// The JS client's malformed blob: 4,728 zero bytes.
	zeros := base64.RawURLEncoding.EncodeToString(make([]byte, 4728))
	resp, body = do(t, s, http.MethodPost, base+"/secrets/restore?api-version=7.3", tok, strings.NewReader(`{"value":"`+zeros+`"}`))
	sameBody(t, loadRecording(t, "kv-restore-malformed-400.json"), resp, body)
}

func TestGoldenOutContentType(t *testing.T) {
	s, tok := goldenServer(t)
	const name = "secretcontenttype2250812526"
	s.SetSecret("golden", name, "value2250812526", akvcredstest.ContentType("text/plain"))
	rec := loadRecording(t, "kv-get-secret-outcontenttype-400.json")
	resp, body := do(t, s, http.MethodGet, "https://golden.vault.azure.net/secrets/"+name+"/?api-version=2025-07-01&outContentType=application%2Fx-pem-file", tok, nil)
	sameBody(t, rec, resp, body)

	// Other sources and targets, by the same message's pattern.
	s.SetSecret("golden", "pem", "-----BEGIN CERTIFICATE-----", akvcredstest.ContentType("application/x-pem-file"))
	resp, body = do(t, s, http.MethodGet, "https://golden.vault.azure.net/secrets/pem/?api-version=2025-07-01&outContentType=application%2Fx-pem-file", tok, nil)
	if want := `{"error":{"code":"BadParameter","message":"The 'PEM' to 'PEM' transformation is not supported. Only PFX to PEM transformation is supported."}}`; resp.StatusCode != 400 || string(body) != want {
		t.Errorf("PEM to PEM: %d %s", resp.StatusCode, body)
	}
	// PFX to PEM is Azure's one transformation (TestCertificateOutContentType);
	// a value that is no PKCS#12 file is refused without being shown.
	s.SetSecret("golden", "pfx", "MIIK", akvcredstest.ContentType("application/x-pkcs12"), akvcredstest.Managed())
	resp, body = do(t, s, http.MethodGet, "https://golden.vault.azure.net/secrets/pfx/?api-version=2025-07-01&outContentType=application%2Fx-pem-file", tok, nil)
	if resp.StatusCode != http.StatusBadRequest || strings.Contains(string(body), "MIIK") {
		t.Errorf("PFX to PEM of a damaged PFX: %d %s", resp.StatusCode, body)
	}
	// A client's own PFX (not a certificate's, not managed) is not
	// converted, even when it is a valid PKCS#12 file.
	cert, err := s.SetCertificate("golden", "real", akvcredstest.CertificateSpec{Key: "ec-p256"})
	if err != nil {
		t.Fatal(err)
	}
	resp, body = do(t, s, http.MethodGet, "https://golden.vault.azure.net/secrets/real/"+cert.Version+"?api-version=2025-07-01", tok, nil)
	var real struct{ Value string }
	if err := json.Unmarshal(body, &real); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, err)
	}
	s.SetSecret("golden", "own-pfx", real.Value, akvcredstest.ContentType("application/x-pkcs12"))
	resp, body = do(t, s, http.MethodGet, "https://golden.vault.azure.net/secrets/own-pfx/?api-version=2025-07-01&outContentType=application%2Fx-pem-file", tok, nil)
	if resp.StatusCode != http.StatusBadRequest || strings.Contains(string(body), real.Value[:40]) {
		t.Errorf("PFX to PEM of a client's PFX: %d %s", resp.StatusCode, body)
	}
	// Without outContentType the secret comes back as stored.
	resp, _ = do(t, s, http.MethodGet, "https://golden.vault.azure.net/secrets/pfx/?api-version=2025-07-01", tok, nil)
	if resp.StatusCode != 200 {
		t.Errorf("plain get of the PFX secret: %d", resp.StatusCode)
	}
}

// TestServiceVersionHeader checks the x-ms-keyvault-service-version of the
// most recent recordings.
func TestServiceVersionHeader(t *testing.T) {
	s, tok := goldenServer(t)
	s.SetSecret("golden", "x", "v")
	want := loadRecording(t, "kv-get-secret.json").ResponseHeaders["x-ms-keyvault-service-version"]
	resp, _ := do(t, s, http.MethodGet, "https://golden.vault.azure.net/secrets/x/"+goldenQuery, tok, nil)
	if got := resp.Header.Get("x-ms-keyvault-service-version"); got != want || want == "" {
		t.Errorf("x-ms-keyvault-service-version %q, recorded %q", got, want)
	}
}
