package sample

import (
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"time"
)

// catalogue is sources/product-catalogue.yaml: a supplier's daily product
// catalogue, gzipped CSV, ';'-delimited, Latin-1, German column values,
// euros and kilograms with a decimal comma. Each record is one article with
// its own SKU (SKU-0000001 for record 0), so every record is its own entity.
type catalogue struct{}

type shelf struct {
	name    []byte // Latin-1, as the declaration's category map spells it
	chilled bool
	items   [][]byte // Latin-1 designations
	price   [2]int   // cents, min and max
	weight  [2]int   // grams, min and max
}

var (
	shelves = []shelf{
		{latin1("Obst & Gemüse"), false, latin1s(
			"Äpfel Elstar 1 kg", "Birnen Williams Christ", "Möhren 500 g", "Kartoffeln festkochend 2,5 kg",
			"Rote Bete vorgegart", "Champignons braun 250 g", "Zitronen Bio", "Feldsalat 150 g", "Pfirsiche",
			"Salatgurke", "Tomaten Rispe", "Brokkoli", "Süßkartoffeln", "Radieschen Bund",
		), [2]int{39, 599}, [2]int{100, 2500}},
		{latin1("Molkerei"), true, latin1s(
			"Frische Vollmilch 3,8 %", "Crème fraîche 30 %", "Joghurt griechische Art", "Bergkäse gerieben",
			"Süßrahmbutter", "Speisequark 40 %", "Camembert de Normandie", "Skyr Natur", "Schlagsahne",
			"Ziegenfrischkäse", "Emmentaler am Stück", "Buttermilch", "Gouda jung, Scheiben",
		), [2]int{49, 899}, [2]int{125, 1000}},
		{latin1("Backwaren"), false, latin1s(
			"Roggenbrötchen 6 Stück", "Bauernbrot", "Croissants 4 Stück", "Laugenbrezel", "Pain au chocolat",
			"Vollkorntoast", "Baguette", "Franzbrötchen", "Zimtschnecke", "Dinkelbrot", "Apfelstrudel",
		), [2]int{29, 499}, [2]int{60, 1000}},
		{latin1("Tiefkühl"), true, latin1s(
			"Rahmspinat", "Pommes frites", "Fischstäbchen 15 Stück", "Himbeeren", "Erbsen fein",
			"Steinofenpizza Margherita", "Blätterteig", "Gemüsepfanne", "Vanilleeis", "Garnelen, geschält",
			"Kräuterbaguette", "Germknödel",
		), [2]int{99, 1299}, [2]int{200, 2500}},
		{latin1("Getränke"), false, latin1s(
			"Mineralwasser still 1,5 l", "Apfelschorle 1 l", "Orangensaft 1 l", "Pilsener 0,5 l",
			"Kräutertee", "Café crème Bohnen 1 kg", "Rotwein Côtes du Rhône", "Cola Zero 1,25 l", "Malzbier",
			"Holunderblütensirup", "Weißbier 0,5 l",
		), [2]int{39, 2499}, [2]int{330, 1500}},
		{latin1("Haushalt"), false, latin1s(
			"Spülmittel Zitrone", "Küchenrolle 4 Rollen", "Waschmittel flüssig", "Müllbeutel 35 l",
			"Glasreiniger", "Geschirrtabs 40 Stück", "Schwämme 10 Stück", "Weichspüler", "Allzweckreiniger",
			"Entkalker", "Bügelwasser",
		), [2]int{79, 1999}, [2]int{50, 3000}},
	}
	brands = latin1s(
		"Hofgut Sonnenhügel", "Nordfrisch", "Bäckerei Müller", "Alpenkäserei Söll", "Frère Jacques",
		"Eisbär", "Quellgrün", "Saubermann", "Ländle", "Señor Café", "Großhandel Nord", "Ørsted Mejeri",
	)
	// longTail makes a designation whose name is over the contract's 200
	// characters: a supplier pasting the product description.
	longTail = latin1(", Aktionsware: ideal für die ganze Familie, aus kontrollierter Herkunft, schonend verarbeitet, " +
		"ohne Zusatz von Konservierungsstoffen, bitte kühl und trocken lagern, nach dem Öffnen rasch verbrauchen, " +
		"Verpackung über die Wertstofftonne entsorgen")
	catalogueHeader = []byte("article_no;brand;designation;category;price;ean;chilled;weight_kg;listed_on\n")
)

// The rules an invalid catalogue record breaks, by kind.
const (
	badSKU = iota
	badEAN
	badName
)

func (catalogue) kinds() [][2]string {
	return [][2]string{
		badSKU:  {"sku", "string.min_len"},
		badEAN:  {"ean", "string.pattern"},
		badName: {"name", "string.max_len"},
	}
}

func (catalogue) entry(*config) string { return "" }

func (catalogue) header() []byte { return catalogueHeader }

func (catalogue) wrap(w io.Writer, c *config) (io.Writer, func() error, error) {
	return gzipped(w, c)
}

func (catalogue) record(b []byte, r *rand.Rand, c *config, n int64, invalid bool, kind int) []byte {
	s := &shelves[r.IntN(len(shelves))]
	// article_no
	if !invalid || kind != badSKU {
		b = append(b, "SKU-"...)
		b = appendPadded(b, n+1, 7)
	}
	b = append(b, ';')
	// brand; designation
	b = append(b, brands[r.IntN(len(brands))]...)
	b = append(b, ';')
	b = append(b, s.items[r.IntN(len(s.items))]...)
	if invalid && kind == badName {
		b = append(b, longTail...)
	}
	b = append(b, ';')
	b = append(b, s.name...)
	b = append(b, ';')
	// price: euros with a decimal comma
	cents := s.price[0] + r.IntN(s.price[1]-s.price[0]+1)
	if c.revision > 0 && n%10 == 0 {
		cents += 10 * c.revision
	}
	b = strconv.AppendInt(b, int64(cents/100), 10)
	b = append(b, ',')
	b = appendPadded(b, int64(cents%100), 2)
	b = append(b, ';')
	// ean: EAN-13 with a German prefix and its check digit
	b = appendEAN(b, r.Int64N(10_000_000_000), invalid && kind == badEAN)
	b = append(b, ';')
	// chilled: J/N (a chilled shelf's articles mostly are)
	if s.chilled == (r.IntN(20) != 0) {
		b = append(b, 'J')
	} else {
		b = append(b, 'N')
	}
	b = append(b, ';')
	// weight_kg with a decimal comma and three decimals
	g := s.weight[0] + r.IntN(s.weight[1]-s.weight[0]+1)
	b = strconv.AppendInt(b, int64(g/1000), 10)
	b = append(b, ',')
	b = appendPadded(b, int64(g%1000), 3)
	b = append(b, ';')
	// listed_on: within the two years before the export
	b = c.date.AddDate(0, 0, -r.IntN(730)).AppendFormat(b, time.DateOnly)
	return append(b, '\n')
}

// appendEAN appends an EAN-13 "40" + ten digits + check digit; short drops
// the check digit (12 digits, which the contract's pattern refuses).
func appendEAN(b []byte, ten int64, short bool) []byte {
	start := len(b)
	b = append(b, '4', '0')
	b = appendPadded(b, ten, 10)
	sum := 0
	for i, d := range b[start:] {
		w := 1
		if i%2 == 1 {
			w = 3
		}
		sum += w * int(d-'0')
	}
	if short {
		return b
	}
	return append(b, byte('0'+(10-sum%10)%10))
}

// appendPadded appends v in decimal, zero-padded to width digits.
func appendPadded(b []byte, v int64, width int) []byte {
	var d [20]byte
	s := strconv.AppendInt(d[:0], v, 10)
	for range width - len(s) {
		b = append(b, '0')
	}
	return append(b, s...)
}

// latin1 encodes s (UTF-8 source text) as ISO-8859-1; it panics on a
// character Latin-1 lacks, which only a change of the tables above can bring.
func latin1(s string) []byte {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			panic(fmt.Sprintf("sample: %q is not Latin-1", r))
		}
		out = append(out, byte(r))
	}
	return out
}

func latin1s(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = latin1(s)
	}
	return out
}
