// Command report turns the results of scripts/bench.sh into the tables of
// docs/BENCHMARKS.md. It reads Go benchmark output, takes the median of
// each metric over the rounds, and replaces the text between each pair of
// "<!-- begin NAME -->" and "<!-- end NAME -->" markers in the document.
//
//	go run ./bench/report -results .bench/results.txt -doc docs/BENCHMARKS.md
package main

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
)

func main() {
	resultsPath := flag.String("results", ".bench/results.txt", "Go benchmark output written by scripts/bench.sh")
	docPath := flag.String("doc", "docs/BENCHMARKS.md", "Markdown document whose marked sections are replaced")
	flag.Parse()
	if err := run(*resultsPath, *docPath); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run(resultsPath, docPath string) error {
	data, err := os.ReadFile(resultsPath)
	if err != nil {
		return fmt.Errorf("read results: %w", err)
	}
	r := parseResults(string(data))
	if len(r.order) == 0 {
		return fmt.Errorf("no benchmark results in %s: run scripts/bench.sh first", resultsPath)
	}
	doc, err := os.ReadFile(docPath)
	if err != nil {
		return fmt.Errorf("read document: %w", err)
	}
	out := string(doc)
	for name, section := range sections(r) {
		if out, err = replaceSection(out, name, section); err != nil {
			return fmt.Errorf("%s: %w", docPath, err)
		}
	}
	return os.WriteFile(docPath, []byte(out), 0o644)
}

// replaceSection puts body between the begin and end markers of name.
func replaceSection(doc, name, body string) (string, error) {
	re := regexp.MustCompile(`(?s)(<!-- begin ` + regexp.QuoteMeta(name) + ` -->\n).*?(<!-- end ` + regexp.QuoteMeta(name) + ` -->)`)
	if !re.MatchString(doc) {
		return "", fmt.Errorf("no markers <!-- begin %s --> and <!-- end %s -->", name, name)
	}
	return re.ReplaceAllLiteralString(doc, "<!-- begin "+name+" -->\n"+strings.TrimRight(body, "\n")+"\n<!-- end "+name+" -->"), nil
}
