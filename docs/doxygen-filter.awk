# Doxygen input filter for include/evs: the headers use plain // comments (LevelDB's style);
# this turns them into doc comments as doxygen reads them, without changing the headers:
#   the comment block that opens a file      -> /// (the file's description; " @file" is added
#                                               at the end of its first line)
#   // before a declaration                  -> ///
#   a trailing // after a member or value    -> ///<
#   a // line under a trailing comment, at the same column (its continuation, as clang-format
#   wraps it)                                -> ///<
# and leaves these as plain comments:
#   a // block followed by a blank line: a heading for the declarations below it, not the
#   description of the first one;
#   a trailing // NOLINT...: a note for clang-tidy, not for readers.
# "<" and ">" in comment text are escaped, so "<name>" is text, not an HTML tag.
# Every input line gives one output line, so doxygen's line numbers are the header's.
function escape(text) { gsub(/</, "\\<", text); gsub(/>/, "\\>", text); return text }
function flush(as_doc,    k, i) {  # prints the held // block, as doc comments or as it is
  for (k = 1; k <= held; k++) {
    i = index(block[k], "//")
    if (as_doc) print substr(block[k], 1, i - 1) "///" escape(substr(block[k], i + 2))
    else print block[k]
  }
  held = 0
}
NR == 1 { in_head = 1 }
in_head && /^\/\// { print "///" escape(substr($0, 3)) (file_done++ ? "" : " @file"); next }
{ in_head = 0 }
/^[ \t]*\/\/( |$)/ && trailing_col && index($0, "//") == trailing_col {
  print substr($0, 1, trailing_col - 1) "///<" escape(substr($0, trailing_col + 2)); next
}
{ trailing_col = 0 }
/^[ \t]*\/\/( |$)/ { block[++held] = $0; next }
{ flush($0 !~ /^[ \t]*$/) }
match($0, /[;,{}][ \t]+\/\/( |$)/) {
  i = RSTART + 1; j = index(substr($0, i), "//") + i - 1
  if (substr($0, j + 2) ~ /^ *NOLINT/) { print; next }
  trailing_col = j
  print substr($0, 1, j - 1) "///<" escape(substr($0, j + 2)); next
}
{ print }
END { flush(0) }
