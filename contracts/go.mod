module github.com/ocrstack/ocrstack/contracts

go 1.26
