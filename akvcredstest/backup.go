package akvcredstest

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Backup and restore. Key Vault's backup blob (the "value" of POST
// /secrets/{name}/backup, base64url) is opaque: in the TestBackupRestore
// recording it decodes to the length-prefixed tag
// ")AzureKeyVaultSecretBackupV1.microsoft.com" followed by a JWE in compact
// form whose header is {"kid":...,"alg":"RSA-OAEP-256","enc":"A256CBC-HS512"}.
// The emulator's blob has the same outer form: the tag, then a JWE with
// "alg":"dir" under a key of its own server (backupKey, backupKID) and
// "enc":"A256CBC-HS512" (RFC 7518 5.2.5: AES-256-CBC, then HMAC-SHA-512
// truncated to 32 bytes over the protected header, IV, ciphertext and the
// header's bit length). So the blob hides the values, and any change to it,
// or a blob from another server, fails the HMAC check. Such a blob is
// answered as Azure answers a corrupt one (azure-sdk-for-js recording "can
// restore a secret (Malformed Backup Bytes)"): 400, code "Malformed backup
// blob", "Backup blob contains invalid or corrupt version.".

const (
	backupTag      = "AzureKeyVaultSecretBackupV1.microsoft.com"
	backupEnc      = "A256CBC-HS512"
	backupBadCode  = "Malformed backup blob"
	backupBadBlob  = "Backup blob contains invalid or corrupt version."
	backupTagBytes = 32 // A256CBC-HS512's authentication tag length
)

// backupPrefix is backupTag with its length byte, as in Azure's blobs.
var backupPrefix = string(rune(len(backupTag))) + backupTag

// backupHeader is the protected header of the blob's JWE.
type backupHeader struct {
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Enc string `json:"enc"`
}

// backupPayload is what a blob holds: the secret's name and every version.
type backupPayload struct {
	Name     string          `json:"name"`
	Versions []backupVersion `json:"versions"`
}

type backupVersion struct {
	Version     string            `json:"version"`
	Value       string            `json:"value"`
	ContentType string            `json:"contentType,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Enabled     bool              `json:"enabled"`
	Nbf         *time.Time        `json:"nbf,omitempty"`
	Exp         *time.Time        `json:"exp,omitempty"`
	Created     time.Time         `json:"created"`
	Updated     time.Time         `json:"updated"`
	Managed     bool              `json:"managed,omitempty"`
	Previous    string            `json:"previousVersion,omitempty"`
}

// payloadOf copies sec into a backup payload.
func payloadOf(sec *secret) backupPayload {
	p := backupPayload{Name: sec.name}
	for _, sv := range sec.versions {
		p.Versions = append(p.Versions, backupVersion{
			Version: sv.version, Value: sv.value, ContentType: sv.contentType,
			Tags: copyTags(sv.tags), Enabled: sv.enabled, Nbf: sv.nbf, Exp: sv.exp,
			Created: sv.created, Updated: sv.updated, Managed: sv.managed, Previous: sv.previous,
		})
	}
	return p
}

// secret rebuilds the secret a payload holds.
func (p backupPayload) secret() *secret {
	sec := &secret{name: p.Name}
	for _, bv := range p.Versions {
		sec.versions = append(sec.versions, &secretVersion{
			version: bv.Version, value: bv.Value, contentType: bv.ContentType,
			tags: copyTags(bv.Tags), enabled: bv.Enabled, nbf: bv.Nbf, exp: bv.Exp,
			created: bv.Created, updated: bv.Updated, managed: bv.Managed, previous: bv.Previous,
		})
	}
	return sec
}

// valid reports whether a decrypted payload describes a secret.
func (p backupPayload) valid() bool {
	if !secretNameRE.MatchString(p.Name) || len(p.Versions) == 0 {
		return false
	}
	for _, v := range p.Versions {
		if !versionRE.MatchString(v.Version) {
			return false
		}
	}
	return true
}

// backupMAC is A256CBC-HS512's authentication tag (RFC 7518 5.2.2.1).
func backupMAC(macKey, aad, iv, ciphertext []byte) []byte {
	al := make([]byte, 8)
	binary.BigEndian.PutUint64(al, uint64(len(aad))*8)
	m := hmac.New(sha512.New, macKey)
	for _, part := range [][]byte{aad, iv, ciphertext, al} {
		m.Write(part)
	}
	return m.Sum(nil)[:backupTagBytes]
}

// sealBackup encrypts and authenticates p into a blob, base64url.
func (s *Server) sealBackup(p backupPayload) (string, error) {
	plain, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	hdr, _ := json.Marshal(backupHeader{Kid: s.backupKID, Alg: "dir", Enc: backupEnc})
	aad := []byte(base64.RawURLEncoding.EncodeToString(hdr))
	iv := make([]byte, aes.BlockSize)
	if _, err := rand.Read(iv); err != nil {
		return "", err
	}
	block, err := aes.NewCipher(s.backupKey[32:])
	if err != nil {
		return "", err
	}
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	plain = append(plain, bytes.Repeat([]byte{byte(pad)}, pad)...)
	ct := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, plain)
	tag := backupMAC(s.backupKey[:32], aad, iv, ct)
	enc := base64.RawURLEncoding.EncodeToString
	jwe := strings.Join([]string{string(aad), "", enc(iv), enc(ct), enc(tag)}, ".")
	return base64.RawURLEncoding.EncodeToString([]byte(backupPrefix + jwe)), nil
}

// openBackup checks and decrypts a blob; ok is false for anything but an
// untouched blob of this server.
func (s *Server) openBackup(blob string) (p backupPayload, ok bool) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(blob, "="))
	if err != nil {
		return p, false
	}
	jwe, found := strings.CutPrefix(string(raw), backupPrefix)
	parts := strings.Split(jwe, ".")
	if !found || len(parts) != 5 || parts[1] != "" {
		return p, false
	}
	plain, ok := s.decryptBackup(parts[0], parts[2], parts[3], parts[4])
	if !ok || json.Unmarshal(plain, &p) != nil || !p.valid() {
		return backupPayload{}, false
	}
	return p, true
}

// decryptBackup verifies and decrypts the JWE parts (base64url): header,
// IV, ciphertext and tag.
func (s *Server) decryptBackup(hdr64, iv64, ct64, tag64 string) ([]byte, bool) {
	dec := base64.RawURLEncoding.DecodeString
	hdrJSON, err1 := dec(hdr64)
	iv, err2 := dec(iv64)
	ct, err3 := dec(ct64)
	tag, err4 := dec(tag64)
	var hdr backupHeader
	switch {
	case err1 != nil || err2 != nil || err3 != nil || err4 != nil, json.Unmarshal(hdrJSON, &hdr) != nil:
		return nil, false
	case hdr != backupHeader{Kid: s.backupKID, Alg: "dir", Enc: backupEnc}:
		return nil, false
	case len(iv) != aes.BlockSize || len(ct) == 0 || len(ct)%aes.BlockSize != 0:
		return nil, false
	case !hmac.Equal(tag, backupMAC(s.backupKey[:32], []byte(hdr64), iv, ct)):
		return nil, false
	}
	block, err := aes.NewCipher(s.backupKey[32:])
	if err != nil {
		return nil, false
	}
	plain := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, ct)
	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > aes.BlockSize {
		return nil, false
	}
	return plain[:len(plain)-pad], true
}

// backupResult is the answer to a backup and the body of a restore.
type backupResult struct {
	Value *string `json:"value"`
}

// backupSecret answers POST /secrets/{name}/backup: 200 {"value": blob}
// holding every version, or 404 SecretNotFound for a secret that does not
// exist or is deleted (azure-sdk-for-js recording "can backup a secret (non
// existing)").
func (k *kvCall) backupSecret() {
	name := k.route.secret
	k.s.mu.Lock()
	sec := k.v.secrets[strings.ToLower(name)]
	var p backupPayload
	if sec != nil {
		p = payloadOf(sec)
	}
	k.s.mu.Unlock()
	if sec == nil {
		k.fail(http.StatusNotFound, "SecretNotFound", notFoundMessage(name), "")
		return
	}
	blob, err := k.s.sealBackup(p)
	if err != nil {
		k.fail(http.StatusInternalServerError, "InternalServerError", "akvcredstest: sealing the backup: "+err.Error(), "")
		return
	}
	k.reply(backupResult{Value: &blob})
}

// restoreSecret answers POST /secrets/restore {"value": blob}: the secret
// comes back with every version, identifiers and times as backed up, and
// the answer is 200 with the latest version's properties and no value (as
// recorded in TestBackupRestore). A name in use is 409 Conflict with the
// recorded message naming the backed-up latest version; a name deleted but
// recoverable is 409 as for a set.
func (k *kvCall) restoreSecret() {
	var req backupResult
	if len(k.body) == 0 || json.Unmarshal(k.body, &req) != nil || req.Value == nil {
		k.fail(http.StatusBadRequest, "BadParameter", "The request body is not valid JSON.", "")
		return
	}
	p, ok := k.s.openBackup(*req.Value)
	if !ok {
		k.fail(http.StatusBadRequest, backupBadCode, backupBadBlob, "")
		return
	}
	sec := p.secret()
	key := strings.ToLower(sec.name)
	k.s.mu.Lock()
	_, active := k.v.secrets[key]
	_, deleted := k.v.deleted[key]
	var item secretItem
	if !active && !deleted {
		k.v.secrets[key] = sec
		item = versionItem(k.v, k.base(), sec, sec.latest())
	}
	k.s.mu.Unlock()
	switch {
	case active:
		k.fail(http.StatusConflict, "Conflict", fmt.Sprintf(
			"There was a conflict restoring the secret '%s/secrets/%s/%s'. This can happen if either: a second secret with the same name was created after the first secret was deleted; thus trying to restore a secret whose name is already in use. To fix this, rename the second secret to something else so that the restore works. The second probable cause of this exception is when multiple operations are performed in parallel against the secret. To avoid this error, perform operations against a secret in a sequential manner.",
			k.base(), sec.name, sec.latest().version), "")
	case deleted:
		k.deletedConflict(sec.name)
	default:
		k.reply(item)
	}
}
