//! Splitting `iexec_args` into an argument vector.
//!
//! iExec passes the deal's `iexec_args` string to the app as its command
//! line. This follows the POSIX shell's quoting rules and nothing else (no
//! variable, glob or tilde expansion):
//!
//! - blanks (space, tab, newline) separate arguments outside quotes;
//! - `'...'` keeps everything literally up to the next `'`;
//! - `"..."` keeps everything literally except that a backslash escapes
//!   `"`, `\`, `$`, `` ` `` and newline;
//! - outside quotes a backslash keeps the next character literally
//!   (backslash-newline is removed);
//! - quoted and unquoted parts next to each other form one argument, and
//!   `''` or `""` alone is an empty argument.

/// Why `iexec_args` could not be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum ArgsError {
    /// A quote was opened and never closed.
    #[error("unterminated {quote} quote starting at byte {offset}")]
    UnterminatedQuote {
        /// The quote character.
        quote: char,
        /// Byte offset of the opening quote.
        offset: usize,
    },
    /// The string ends with a lone backslash.
    #[error("trailing backslash at the end of the arguments")]
    TrailingBackslash,
}

/// Splits `iexec_args` into arguments with shell-like quoting.
///
/// ```
/// use poco_runtime::split_args;
/// assert_eq!(split_args(r#"one "two words" 'it''s' a\ b"#).unwrap(), ["one", "two words", "its", "a b"]);
/// ```
pub fn split_args(input: &str) -> Result<Vec<String>, ArgsError> {
    let mut args = Vec::new();
    let mut current = String::new();
    // Whether `current` is an argument, even an empty one (after `""`).
    let mut in_arg = false;
    let mut chars = input.char_indices().peekable();

    while let Some((offset, c)) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if in_arg {
                    args.push(std::mem::take(&mut current));
                    in_arg = false;
                }
            }
            '\'' => {
                in_arg = true;
                loop {
                    match chars.next() {
                        Some((_, '\'')) => break,
                        Some((_, ch)) => current.push(ch),
                        None => {
                            return Err(ArgsError::UnterminatedQuote {
                                quote: '\'',
                                offset,
                            })
                        }
                    }
                }
            }
            '"' => {
                in_arg = true;
                loop {
                    match chars.next() {
                        Some((_, '"')) => break,
                        Some((_, '\\')) => match chars.peek() {
                            Some(&(_, next @ ('"' | '\\' | '$' | '`'))) => {
                                current.push(next);
                                chars.next();
                            }
                            Some(&(_, '\n')) => {
                                chars.next();
                            }
                            _ => current.push('\\'),
                        },
                        Some((_, ch)) => current.push(ch),
                        None => return Err(ArgsError::UnterminatedQuote { quote: '"', offset }),
                    }
                }
            }
            '\\' => match chars.next() {
                Some((_, '\n')) => {}
                Some((_, ch)) => {
                    in_arg = true;
                    current.push(ch);
                }
                None => return Err(ArgsError::TrailingBackslash),
            },
            _ => {
                in_arg = true;
                current.push(c);
            }
        }
    }
    if in_arg {
        args.push(current);
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Vec<String> {
        split_args(s).unwrap()
    }

    #[test]
    fn blanks_separate() {
        assert_eq!(split(""), Vec::<String>::new());
        assert_eq!(split("   \t\n "), Vec::<String>::new());
        assert_eq!(split("a  b\tc\nd"), ["a", "b", "c", "d"]);
        assert_eq!(split("  lead trail  "), ["lead", "trail"]);
    }

    #[test]
    fn quotes() {
        assert_eq!(split(r#""a b" 'c d'"#), ["a b", "c d"]);
        assert_eq!(split(r#"x"y z"w"#), ["xy zw"]);
        assert_eq!(split(r#"'' "" a"#), ["", "", "a"]);
        assert_eq!(split(r#"'$HOME \n "q"'"#), [r#"$HOME \n "q""#]);
        assert_eq!(split(r#""\"\\\$\`\n""#), [r#""\$`\n"#]);
        assert_eq!(split("\"line\\\ncontinued\""), ["linecontinued"]);
    }

    #[test]
    fn backslash_outside_quotes() {
        assert_eq!(split(r"a\ b c\'d \\"), ["a b", "c'd", "\\"]);
        assert_eq!(split("a\\\nb"), ["ab"]);
        assert_eq!(split(r"\ "), [" "]);
    }

    #[test]
    fn unicode_is_kept() {
        assert_eq!(split("héllo 'wörld ✓'"), ["héllo", "wörld ✓"]);
    }

    #[test]
    fn errors() {
        assert_eq!(
            split_args("a 'b"),
            Err(ArgsError::UnterminatedQuote {
                quote: '\'',
                offset: 2
            })
        );
        assert_eq!(
            split_args("\"b"),
            Err(ArgsError::UnterminatedQuote {
                quote: '"',
                offset: 0
            })
        );
        assert_eq!(split_args("a\\"), Err(ArgsError::TrailingBackslash));
    }
}
