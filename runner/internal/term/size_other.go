//go:build !unix

package term

import "os"

// termWidth is 0 where the terminal's size is not asked for: the caller falls back to $COLUMNS or 80.
func termWidth(*os.File) int { return 0 }
