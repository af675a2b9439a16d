package ui

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
)

//go:embed static
var staticFS embed.FS

// static serves the embedded CSS and JavaScript at /static/<name>. Pages
// link them with ?v=<hash of the content> (static.url), so a file may be
// cached for a year: a new build changes its address.
type static struct {
	files map[string]staticFile
}

type staticFile struct {
	body        []byte
	hash        string
	contentType string
}

func newStatic() *static {
	st := &static{files: map[string]staticFile{}}
	names, _ := fs.Glob(staticFS, "static/*")
	for _, n := range names {
		b, err := staticFS.ReadFile(n)
		if err != nil {
			continue
		}
		sum := sha256.Sum256(b)
		name := path.Base(n)
		st.files[name] = staticFile{body: b, hash: hex.EncodeToString(sum[:6]), contentType: mime.TypeByExtension(path.Ext(name))}
	}
	return st
}

// url returns the address of the static file name, carrying its hash.
func (st *static) url(name string) string {
	return "/static/" + name + "?v=" + st.files[name].hash
}

// serve answers GET /static/{name}.
func (st *static) serve(w http.ResponseWriter, r *http.Request) {
	f, ok := st.files[r.PathValue("name")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("Content-Length", strconv.Itoa(len(f.body)))
	if r.URL.Query().Get("v") == f.hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	h.Set("ETag", `"`+f.hash+`"`)
	if r.Header.Get("If-None-Match") == `"`+f.hash+`"` {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if r.Method != http.MethodHead {
		w.Write(f.body)
	}
}
