//! The data query language of `ApplyDataQuery`: a small pandas-`DataFrame.query`-like filter
//! over the samples, tokenised and parsed properly (no string matching), type-checked at
//! parse time, then evaluated row by row.
//!
//! ```text
//! loss > 0.5
//! origin == 'val' and loss < 0.1
//! tag == 'defect' or (label in [3, 7] & not discarded)
//! ```
//!
//! Grammar (lowest precedence first; `&`, `|`, `~` are pandas' spellings of `and`, `or`, `not`):
//! ```text
//! query      := or_expr EOF            (an empty query matches everything)
//! or_expr    := and_expr (("or" | "|") and_expr)*
//! and_expr   := not_expr (("and" | "&") not_expr)*
//! not_expr   := ("not" | "~") not_expr | atom
//! atom       := "(" or_expr ")" | column [op value | ["not"] "in" list]
//! op         := "==" | "!=" | "<" | "<=" | ">" | ">="
//! list       := "[" [value ("," value)*] "]"
//! value      := number | 'string' | "string" | True | False
//! ```
//! Columns: `loss` and `label` (numbers), `origin` and `sample_id` (alias `id`; strings),
//! `tag` (alias `tags`; `tag == 'x'` means the sample has tag `x`), `discarded` (a boolean,
//! usable bare: `not discarded`). Comparing a column with a value of the wrong type, or
//! ordering strings or tags, is an error before anything is evaluated.
//!
//! This module owns parsing and evaluation only; it knows samples through [`Row`].

use std::fmt;

/// What the query language needs to know about a sample.
pub trait Row {
    /// The sample's id.
    fn sample_id(&self) -> &str;
    /// The sample's last loss.
    fn loss(&self) -> f64;
    /// The sample's class label.
    fn label(&self) -> i64;
    /// `train`, `val` or `test`.
    fn origin(&self) -> &str;
    /// Whether the sample carries `tag`.
    fn has_tag(&self, tag: &str) -> bool;
    /// Whether the sample is discarded (denylisted).
    fn discarded(&self) -> bool;
}

/// Why a query was rejected, with the 1-based column where the problem starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// What is wrong.
    pub message: String,
    /// 1-based character column in the query text.
    pub column: usize,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Invalid query syntax: {} at column {}",
            self.message, self.column
        )
    }
}

impl std::error::Error for QueryError {}

/// A column of the sample table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// `loss` (number).
    Loss,
    /// `label` (number).
    Label,
    /// `origin` (string).
    Origin,
    /// `sample_id` / `id` (string).
    SampleId,
    /// `tag` / `tags` (set of strings; `==` means "has").
    Tag,
    /// `discarded` (boolean).
    Discarded,
}

impl Column {
    const NAMES: &'static str = "loss, label, origin, sample_id, tag, discarded";

    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "loss" => Column::Loss,
            "label" => Column::Label,
            "origin" => Column::Origin,
            "sample_id" | "id" => Column::SampleId,
            "tag" | "tags" => Column::Tag,
            "discarded" => Column::Discarded,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Column::Loss => "loss",
            Column::Label => "label",
            Column::Origin => "origin",
            Column::SampleId => "sample_id",
            Column::Tag => "tag",
            Column::Discarded => "discarded",
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    fn is_ordering(self) -> bool {
        !matches!(self, CmpOp::Eq | CmpOp::Ne)
    }

    fn apply<T: PartialOrd + ?Sized>(self, a: &T, b: &T) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
        }
    }
}

/// A literal in a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number (integers and floats alike).
    Number(f64),
    /// A quoted string.
    Str(String),
    /// `True` / `False`.
    Bool(bool),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Number(_) => "a number",
            Value::Str(_) => "a string",
            Value::Bool(_) => "a boolean",
        }
    }
}

/// A parsed, type-checked query.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// Matches every row (the empty query).
    All,
    /// Both sides match.
    And(Box<Expr>, Box<Expr>),
    /// Either side matches.
    Or(Box<Expr>, Box<Expr>),
    /// The inner expression does not match.
    Not(Box<Expr>),
    /// `column op value`.
    Compare(Column, CmpOp, Value),
    /// `column in [values]`.
    In(Column, Vec<Value>),
}

impl Expr {
    /// Parses and type-checks `text`.
    pub fn parse(text: &str) -> Result<Expr, QueryError> {
        let tokens = tokenize(text)?;
        let mut parser = Parser { tokens, pos: 0 };
        if parser.peek().kind == Tok::Eof {
            return Ok(Expr::All);
        }
        let expr = parser.or_expr()?;
        let next = parser.peek();
        if next.kind != Tok::Eof {
            return Err(unexpected(next));
        }
        Ok(expr)
    }

    /// Whether `row` matches.
    pub fn matches(&self, row: &impl Row) -> bool {
        match self {
            Expr::All => true,
            Expr::And(a, b) => a.matches(row) && b.matches(row),
            Expr::Or(a, b) => a.matches(row) || b.matches(row),
            Expr::Not(e) => !e.matches(row),
            Expr::Compare(column, op, value) => compare(row, *column, *op, value),
            Expr::In(column, values) => values.iter().any(|v| compare(row, *column, CmpOp::Eq, v)),
        }
    }
}

fn compare(row: &impl Row, column: Column, op: CmpOp, value: &Value) -> bool {
    // Types were checked when parsing; a mismatch here cannot match.
    match (column, value) {
        (Column::Loss, Value::Number(n)) => op.apply(&row.loss(), n),
        // Labels are integers; comparing as f64 is exact for any realistic label.
        (Column::Label, Value::Number(n)) => op.apply(&(row.label() as f64), n),
        (Column::Origin, Value::Str(s)) => op.apply(row.origin(), s.as_str()),
        (Column::SampleId, Value::Str(s)) => op.apply(row.sample_id(), s.as_str()),
        (Column::Tag, Value::Str(s)) => match op {
            CmpOp::Ne => !row.has_tag(s),
            _ => row.has_tag(s),
        },
        (Column::Discarded, Value::Bool(b)) => op.apply(&row.discarded(), b),
        _ => false,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Number(f64),
    Str(String),
    And,
    Or,
    Not,
    In,
    True,
    False,
    Op(CmpOp),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Eof,
}

#[derive(Debug, Clone)]
struct Token {
    kind: Tok,
    /// 1-based column of the token's first character.
    column: usize,
    text: String,
}

fn unexpected(token: &Token) -> QueryError {
    let message = if token.kind == Tok::Eof {
        "unexpected end of query".to_owned()
    } else {
        format!("unexpected token '{}'", token.text)
    };
    QueryError {
        message,
        column: token.column,
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, QueryError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let err = |message: String| QueryError {
            message,
            column: start + 1,
        };
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let kind = if c.is_ascii_alphabetic() || c == '_' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            match word.as_str() {
                "and" => Tok::And,
                "or" => Tok::Or,
                "not" => Tok::Not,
                "in" => Tok::In,
                "True" | "true" => Tok::True,
                "False" | "false" => Tok::False,
                _ => Tok::Ident(word),
            }
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
            || (c == '-'
                && chars
                    .get(i + 1)
                    .is_some_and(|d| d.is_ascii_digit() || *d == '.'))
        {
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                i += 1;
                if i < chars.len() && (chars[i] == '+' || chars[i] == '-') {
                    i += 1;
                }
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
            }
            let literal: String = chars[start..i].iter().collect();
            let n: f64 = literal
                .parse()
                .map_err(|_| err(format!("invalid number '{literal}'")))?;
            Tok::Number(n)
        } else if c == '\'' || c == '"' {
            i += 1;
            let mut s = String::new();
            loop {
                match chars.get(i) {
                    None => return Err(err("unterminated string".to_owned())),
                    Some('\\') => {
                        match chars.get(i + 1) {
                            Some(escaped) => s.push(*escaped),
                            None => return Err(err("unterminated string".to_owned())),
                        }
                        i += 2;
                    }
                    Some(q) if *q == c => {
                        i += 1;
                        break;
                    }
                    Some(other) => {
                        s.push(*other);
                        i += 1;
                    }
                }
            }
            Tok::Str(s)
        } else {
            let next = chars.get(i + 1).copied();
            let (kind, len) = match (c, next) {
                ('=', Some('=')) => (Tok::Op(CmpOp::Eq), 2),
                ('!', Some('=')) => (Tok::Op(CmpOp::Ne), 2),
                ('<', Some('=')) => (Tok::Op(CmpOp::Le), 2),
                ('>', Some('=')) => (Tok::Op(CmpOp::Ge), 2),
                ('<', _) => (Tok::Op(CmpOp::Lt), 1),
                ('>', _) => (Tok::Op(CmpOp::Gt), 1),
                ('&', Some('&')) => (Tok::And, 2),
                ('|', Some('|')) => (Tok::Or, 2),
                ('&', _) => (Tok::And, 1),
                ('|', _) => (Tok::Or, 1),
                ('~', _) | ('!', _) => (Tok::Not, 1),
                ('(', _) => (Tok::LParen, 1),
                (')', _) => (Tok::RParen, 1),
                ('[', _) => (Tok::LBracket, 1),
                (']', _) => (Tok::RBracket, 1),
                (',', _) => (Tok::Comma, 1),
                ('=', _) => return Err(err("'=' is assignment; compare with '=='".to_owned())),
                _ => return Err(err(format!("unexpected character '{c}'"))),
            };
            i += len;
            kind
        };
        tokens.push(Token {
            kind,
            column: start + 1,
            text: chars[start..i].iter().collect(),
        });
    }
    tokens.push(Token {
        kind: Tok::Eof,
        column: chars.len() + 1,
        text: String::new(),
    });
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        // The token list always ends with Eof, and `pos` never moves past it.
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let token = self.peek().clone();
        if token.kind != Tok::Eof {
            self.pos += 1;
        }
        token
    }

    fn eat(&mut self, kind: &Tok) -> bool {
        if &self.peek().kind == kind {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, kind: &Tok) -> Result<(), QueryError> {
        if self.eat(kind) {
            Ok(())
        } else {
            Err(unexpected(self.peek()))
        }
    }

    fn or_expr(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.and_expr()?;
        while self.eat(&Tok::Or) {
            let right = self.and_expr()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.not_expr()?;
        while self.eat(&Tok::And) {
            let right = self.not_expr()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not_expr(&mut self) -> Result<Expr, QueryError> {
        if self.eat(&Tok::Not) {
            return Ok(Expr::Not(Box::new(self.not_expr()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Expr, QueryError> {
        let token = self.next();
        match &token.kind {
            Tok::LParen => {
                let inner = self.or_expr()?;
                self.expect(&Tok::RParen)?;
                Ok(inner)
            }
            Tok::Ident(name) => {
                let column = Column::from_name(name).ok_or_else(|| QueryError {
                    message: format!("unknown column '{name}' (known: {})", Column::NAMES),
                    column: token.column,
                })?;
                self.predicate(column)
            }
            _ => Err(unexpected(&token)),
        }
    }

    fn predicate(&mut self, column: Column) -> Result<Expr, QueryError> {
        let next = self.peek().clone();
        match next.kind {
            Tok::Op(op) => {
                self.pos += 1;
                let value_token = self.peek().clone();
                let value = self.value()?;
                check_type(column, op, &value, &value_token)?;
                Ok(Expr::Compare(column, op, value))
            }
            Tok::In => {
                self.pos += 1;
                Ok(Expr::In(column, self.list(column)?))
            }
            Tok::Not if matches!(self.tokens.get(self.pos + 1), Some(t) if t.kind == Tok::In) => {
                self.pos += 2;
                Ok(Expr::Not(Box::new(Expr::In(column, self.list(column)?))))
            }
            // A bare boolean column is a predicate on its own: `not discarded`.
            _ if column == Column::Discarded => {
                Ok(Expr::Compare(column, CmpOp::Eq, Value::Bool(true)))
            }
            _ => Err(QueryError {
                message: format!(
                    "expected a comparison after '{}', found {}",
                    column.name(),
                    describe(&next)
                ),
                column: next.column,
            }),
        }
    }

    fn list(&mut self, column: Column) -> Result<Vec<Value>, QueryError> {
        self.expect(&Tok::LBracket)?;
        let mut values = Vec::new();
        if self.eat(&Tok::RBracket) {
            return Ok(values);
        }
        loop {
            let value_token = self.peek().clone();
            let value = self.value()?;
            check_type(column, CmpOp::Eq, &value, &value_token)?;
            values.push(value);
            if self.eat(&Tok::RBracket) {
                return Ok(values);
            }
            self.expect(&Tok::Comma)?;
        }
    }

    fn value(&mut self) -> Result<Value, QueryError> {
        let token = self.next();
        match token.kind {
            Tok::Number(n) => Ok(Value::Number(n)),
            Tok::Str(s) => Ok(Value::Str(s)),
            Tok::True => Ok(Value::Bool(true)),
            Tok::False => Ok(Value::Bool(false)),
            _ => Err(QueryError {
                message: format!("expected a value, found {}", describe(&token)),
                column: token.column,
            }),
        }
    }
}

fn describe(token: &Token) -> String {
    if token.kind == Tok::Eof {
        "the end of the query".to_owned()
    } else {
        format!("'{}'", token.text)
    }
}

fn check_type(column: Column, op: CmpOp, value: &Value, at: &Token) -> Result<(), QueryError> {
    let fail = |message: String| {
        Err(QueryError {
            message,
            column: at.column,
        })
    };
    let expected = match column {
        Column::Loss | Column::Label => "a number",
        Column::Origin | Column::SampleId | Column::Tag => "a string",
        Column::Discarded => "a boolean",
    };
    if value.kind() != expected {
        return fail(format!(
            "column '{}' compares with {expected}, not {}",
            column.name(),
            value.kind()
        ));
    }
    let orderable = matches!(column, Column::Loss | Column::Label);
    if op.is_ordering() && !orderable {
        return fail(format!(
            "column '{}' supports only '==', '!=' and 'in'",
            column.name()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct S {
        id: &'static str,
        loss: f64,
        label: i64,
        origin: &'static str,
        tags: &'static [&'static str],
        discarded: bool,
    }

    impl Row for S {
        fn sample_id(&self) -> &str {
            self.id
        }
        fn loss(&self) -> f64 {
            self.loss
        }
        fn label(&self) -> i64 {
            self.label
        }
        fn origin(&self) -> &str {
            self.origin
        }
        fn has_tag(&self, tag: &str) -> bool {
            self.tags.contains(&tag)
        }
        fn discarded(&self) -> bool {
            self.discarded
        }
    }

    fn rows() -> Vec<S> {
        vec![
            S {
                id: "s1",
                loss: 0.9,
                label: 3,
                origin: "train",
                tags: &["defect"],
                discarded: false,
            },
            S {
                id: "s2",
                loss: 0.05,
                label: 7,
                origin: "val",
                tags: &[],
                discarded: false,
            },
            S {
                id: "s3",
                loss: 0.3,
                label: 1,
                origin: "val",
                tags: &["defect", "blurry"],
                discarded: true,
            },
            S {
                id: "s4",
                loss: 0.6,
                label: 7,
                origin: "test",
                tags: &[],
                discarded: false,
            },
        ]
    }

    fn ids(query: &str) -> Vec<&'static str> {
        let expr = Expr::parse(query).unwrap_or_else(|e| panic!("{query}: {e}"));
        rows()
            .into_iter()
            .filter(|r| expr.matches(r))
            .map(|r| r.id)
            .collect()
    }

    fn error(query: &str) -> QueryError {
        match Expr::parse(query) {
            Ok(expr) => panic!("{query:?} parsed as {expr:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn the_issues_examples() {
        assert_eq!(ids("loss > 0.5"), ["s1", "s4"]);
        assert_eq!(ids("origin == 'val' and loss < 0.1"), ["s2"]);
        assert_eq!(ids("tag == 'defect'"), ["s1", "s3"]);
    }

    #[test]
    fn empty_query_matches_everything() {
        assert_eq!(ids(""), ["s1", "s2", "s3", "s4"]);
        assert_eq!(ids("   "), ["s1", "s2", "s3", "s4"]);
    }

    #[test]
    fn precedence_and_parentheses() {
        // and binds tighter than or
        assert_eq!(
            ids("origin == 'test' or origin == 'val' and loss < 0.1"),
            ["s2", "s4"]
        );
        assert_eq!(
            ids("(origin == 'test' or origin == 'val') and loss < 0.1"),
            ["s2"]
        );
        assert_eq!(ids("not (loss > 0.5)"), ["s2", "s3"]);
        assert_eq!(ids("~(loss > 0.5) & label == 7"), ["s2"]);
        assert_eq!(ids("loss > 0.8 | label == 1"), ["s1", "s3"]);
    }

    #[test]
    fn in_lists_tags_and_booleans() {
        assert_eq!(ids("label in [3, 1]"), ["s1", "s3"]);
        assert_eq!(ids("origin not in ['train', 'test']"), ["s2", "s3"]);
        assert_eq!(ids("tags in ['blurry']"), ["s3"]);
        assert_eq!(ids("tag != 'defect'"), ["s2", "s4"]);
        assert_eq!(ids("discarded"), ["s3"]);
        assert_eq!(ids("not discarded and tag == 'defect'"), ["s1"]);
        assert_eq!(ids("discarded == False"), ["s1", "s2", "s4"]);
        assert_eq!(ids("id == \"s4\""), ["s4"]);
    }

    #[test]
    fn numbers_in_every_spelling() {
        assert_eq!(ids("loss >= 6e-1"), ["s1", "s4"]);
        assert_eq!(ids("loss < .1"), ["s2"]);
        assert_eq!(ids("loss > -1"), ["s1", "s2", "s3", "s4"]);
        assert_eq!(ids("label<=1"), ["s3"]);
    }

    #[test]
    fn strings_with_escapes_and_keywords_inside() {
        assert_eq!(ids(r"tag == 'it\'s'"), Vec::<&str>::new());
        // A keyword inside a string is just text.
        assert_eq!(ids("origin == 'and'"), Vec::<&str>::new());
    }

    #[test]
    fn syntax_errors_name_the_token_and_column() {
        let e = error("loss > ");
        assert_eq!(e.column, 8);
        assert!(e.message.contains("expected a value"), "{e}");
        let e = error("loss > 0.5)");
        assert_eq!(
            e.to_string(),
            "Invalid query syntax: unexpected token ')' at column 11"
        );
        let e = error("(loss > 0.5");
        assert!(e.message.contains("unexpected end"), "{e}");
        let e = error("loss = 0.5");
        assert!(e.message.contains("'=='"), "{e}");
        let e = error("invalid syntax here");
        assert!(e.message.contains("unknown column 'invalid'"), "{e}");
        assert_eq!(error("origin == 'val").message, "unterminated string");
        assert_eq!(error("loss > 0.5 $").column, 12);
        assert!(
            error("and loss > 1")
                .message
                .contains("unexpected token 'and'")
        );
        assert!(error("loss 0.5").message.contains("expected a comparison"));
    }

    #[test]
    fn type_errors_are_caught_before_evaluation() {
        assert!(
            error("loss > 'high'")
                .message
                .contains("compares with a number")
        );
        assert!(error("origin < 'val'").message.contains("only '=='"));
        assert!(error("tag > 'x'").message.contains("only '=='"));
        assert!(error("discarded == 1").message.contains("a boolean"));
        assert!(error("label in [1, 'x']").message.contains("a number"));
    }

    #[test]
    fn string_matching_is_not_parsing() {
        // Naive substring matching would accept these; the parser must not.
        assert!(Expr::parse("loss > 0.5 and").is_err());
        assert!(Expr::parse("loss > 0.5 0.6").is_err());
        assert!(Expr::parse("'loss' > 0.5").is_err());
        assert!(Expr::parse("loss >> 0.5").is_err());
    }
}
