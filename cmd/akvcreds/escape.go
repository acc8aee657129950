package main

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Text that comes from Azure — secret names, content types, tags, usernames
// read from JSON values, and Azure's error messages — may hold terminal
// control sequences (clear the screen, retitle the window, fake a prompt).
// Everything the command prints that did not come from the command itself
// goes through clean (text) or cleanJSON (JSON), so that no such sequence
// reaches a terminal.

// clean returns s with every character that a terminal could act on escaped
// the way strconv.Quote escapes it: C0 controls (tab and newline included:
// each value is one table cell or one line), DEL, C1 controls, other
// non-printing characters (bidirectional overrides, ...) and bytes that are
// not UTF-8 ("\x1b", "\u009b", "\u202e", "\xff"). Quotes and backslashes
// are left alone. s is returned as is when nothing needs escaping.
func clean(s string) string {
	i := firstUnsafe(s)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for s = s[i:]; len(s) > 0; {
		r, size := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[0])
		case safeRune(r):
			b.WriteString(s[:size])
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		s = s[size:]
	}
	return b.String()
}

// firstUnsafe is the index of the first character of s that clean escapes,
// or -1.
func firstUnsafe(s string) int {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || !safeRune(r) {
			return i
		}
		i += size
	}
	return -1
}

// safeRune reports whether r prints as itself: printable ASCII or a
// printable character (strconv.IsPrint) beyond it.
func safeRune(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= 0x20 && r < 0x7f
	}
	return strconv.IsPrint(r)
}

// cleanJSON escapes, as \uXXXX, the characters that encoding/json leaves
// raw but a terminal acts on: DEL, C1 controls and other non-printing
// characters. encoding/json already escapes C0 controls and replaces bytes
// that are not UTF-8; outside strings JSON text holds only printable ASCII,
// spaces and newlines, so every character escaped here is inside a string,
// and the result decodes to the same values.
func cleanJSON(data []byte) []byte {
	var out []byte
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if invalid := r == utf8.RuneError && size == 1; r == '\n' || safeRune(r) && !invalid {
			if out != nil {
				out = append(out, data[i:i+size]...)
			}
			i += size
			continue
		}
		if out == nil {
			out = append(make([]byte, 0, len(data)+16), data[:i]...)
		}
		out = appendJSONEscape(out, r)
		i += size
	}
	if out == nil {
		return data
	}
	return out
}

// appendJSONEscape appends r as a JSON \u escape (a surrogate pair beyond
// the Basic Multilingual Plane).
func appendJSONEscape(b []byte, r rune) []byte {
	if r > 0xffff {
		r -= 0x10000
		b = fmt.Appendf(b, `\u%04x`, 0xd800+(r>>10))
		r = 0xdc00 + r&0x3ff
	}
	return fmt.Appendf(b, `\u%04x`, r)
}
