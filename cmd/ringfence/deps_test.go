package main

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/ringfence/ringfence/"

// TestDependencyDirection enforces the layering of DESIGN.md: leaf packages
// import no other package of ours, and domain packages never import the
// edges (store, api, console, voice).
func TestDependencyDirection(t *testing.T) {
	leaf := map[string]bool{"phone": true, "vault": true, "audit": true, "config": true, "llm": true, "apikey": true}
	edges := []string{"store", "api", "console", "voice"}
	domain := map[string]bool{"verify": true, "identity": true, "fraud": true, "access": true, "privacy": true, "dialogue": true, "sms": true, "rekey": true}
	root := filepath.Join("..", "..", "internal")
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		top := strings.Split(filepath.ToSlash(rel), "/")[0]
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if !strings.HasPrefix(p, module+"internal/") {
				continue
			}
			dep := strings.Split(strings.TrimPrefix(p, module+"internal/"), "/")[0]
			if dep == top {
				continue
			}
			if leaf[top] {
				t.Errorf("%s imports %s: %s must import no other package of ours", path, p, top)
			}
			if domain[top] {
				for _, e := range edges {
					if dep == e {
						t.Errorf("%s imports %s: domain packages must not import %s", path, p, e)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
