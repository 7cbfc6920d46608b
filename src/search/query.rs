//! From what someone typed to a tantivy query.
//!
//! [`plan`] is the pure part: which tokens are required, how many typos
//! each may carry, and whether the last one is still being typed. [`build`]
//! turns a plan into the query: every required token must match somewhere
//! (exactly, within its edit distance, or as a prefix when it is the one
//! being typed); exact matches score BM25 per field with field weights, a
//! fuzzy or prefix match scores a constant below that.

use std::ops::Bound;
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, FuzzyTermQuery, Occur, Query, RangeQuery, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};

use tantivy::Term;

use super::schema::{is_stop_word, tokens, UserFields};

/// At most this many tokens of a query are used (bounds the work per query).
pub const MAX_TOKENS: usize = 8;

/// One token of a query and how loosely it may match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedToken {
    pub text: String,
    /// Edit distance allowed for a whole-term match (0, 1 or 2).
    pub distance: u8,
    /// The last token while typing: it also matches as a prefix.
    pub is_prefix: bool,
    /// Edit distance allowed inside the prefix.
    pub prefix_distance: u8,
    /// Stop words ("the", "and") are optional; everything else must match.
    pub is_required: bool,
}

/// Typos tolerated in a token of `len` characters: none below 4, one from
/// 4, two from 8 (short words have too many neighbours).
pub fn distance_for(len: usize) -> u8 {
    match len {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

/// Typos tolerated inside a prefix being typed: one from 6 characters.
pub fn prefix_distance_for(len: usize) -> u8 {
    if len >= 6 {
        1
    } else {
        0
    }
}

/// Plans the query `text`: its tokens (as the index analyses them, each
/// once, at most [`MAX_TOKENS`]); the last one is a prefix unless the text
/// ends with a separator (the word is finished).
pub fn plan(text: &str) -> Vec<PlannedToken> {
    let mut seen = Vec::new();
    for t in tokens(text) {
        if !seen.contains(&t) {
            seen.push(t);
        }
    }
    seen.truncate(MAX_TOKENS);
    let is_typing = text.chars().last().is_some_and(|c| c.is_alphanumeric());
    let count = seen.len();
    seen.into_iter()
        .enumerate()
        .map(|(i, text)| {
            let len = text.chars().count();
            let is_prefix = is_typing && i + 1 == count;
            PlannedToken {
                distance: distance_for(len),
                is_prefix,
                prefix_distance: prefix_distance_for(len),
                is_required: is_prefix || !is_stop_word(&text),
                text,
            }
        })
        .collect()
}

/// The fields an exact match is scored in, with their weights (BM25 is
/// multiplied by these): a name or skill says more than a word of a bio.
fn weighted_fields(f: &UserFields) -> [(Field, f32); 5] {
    [
        (f.name, 3.0),
        (f.skills, 2.5),
        (f.business, 2.0),
        (f.categories, 1.5),
        (f.bio, 1.0),
    ]
}

/// Constant score of a fuzzy or prefix match in the headline, and in the bio.
const LOOSE_HEADLINE: f32 = 1.0;
const LOOSE_BIO: f32 = 0.3;

fn boosted(q: Box<dyn Query>, weight: f32) -> (Occur, Box<dyn Query>) {
    (Occur::Should, Box::new(BoostQuery::new(q, weight)))
}

fn token_query(fields: &UserFields, token: &PlannedToken) -> Box<dyn Query> {
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for (field, weight) in weighted_fields(fields) {
        let term = Term::from_field_text(field, &token.text);
        clauses.push(boosted(
            Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)),
            weight,
        ));
    }
    for (field, weight) in [(fields.headline, LOOSE_HEADLINE), (fields.bio, LOOSE_BIO)] {
        let term = Term::from_field_text(field, &token.text);
        if token.distance > 0 {
            clauses.push(boosted(
                Box::new(FuzzyTermQuery::new(term.clone(), token.distance, true)),
                weight,
            ));
        }
        if token.is_prefix {
            clauses.push(boosted(
                Box::new(FuzzyTermQuery::new_prefix(
                    term,
                    token.prefix_distance,
                    true,
                )),
                weight,
            ));
        }
    }
    Box::new(BooleanQuery::new(clauses))
}

/// The query of `plan` over the users every one of `filters` matches
/// (status, role, skills, rating; filters add no score). `None` when the
/// plan is empty (nothing to search for).
pub fn build(
    fields: &UserFields,
    plan: &[PlannedToken],
    filters: Vec<Box<dyn Query>>,
) -> Option<Box<dyn Query>> {
    if plan.is_empty() {
        return None;
    }
    let text: Vec<(Occur, Box<dyn Query>)> = plan
        .iter()
        .map(|t| {
            let occur = if t.is_required {
                Occur::Must
            } else {
                Occur::Should
            };
            (occur, token_query(fields, t))
        })
        .collect();
    let mut clauses: Vec<(Occur, Box<dyn Query>)> =
        vec![(Occur::Must, Box::new(BooleanQuery::new(text)))];
    for filter in filters {
        clauses.push((Occur::Must, Box::new(ConstScoreQuery::new(filter, 0.0))));
    }
    Some(Box::new(BooleanQuery::new(clauses)))
}

/// Users whose raw `field` is `value`.
pub fn equals(field: Field, value: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, value),
        IndexRecordOption::Basic,
    ))
}

/// Users whose raw `field` holds any of `values`.
pub fn any_of(field: Field, values: &[String]) -> Box<dyn Query> {
    Box::new(BooleanQuery::new(
        values
            .iter()
            .map(|v| (Occur::Should, equals(field, v)))
            .collect(),
    ))
}

/// Users whose f64 `field` is at least `min`.
pub fn at_least(field: Field, min: f64) -> Box<dyn Query> {
    Box::new(RangeQuery::new(
        Bound::Included(Term::from_field_f64(field, min)),
        Bound::Unbounded,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_allowed_grow_with_length() {
        assert_eq!(distance_for(3), 0);
        assert_eq!(distance_for(4), 1);
        assert_eq!(distance_for(7), 1);
        assert_eq!(distance_for(8), 2);
        assert_eq!(distance_for(12), 2);
    }

    #[test]
    fn the_last_token_is_a_prefix_while_typing() {
        let p = plan("John plu");
        assert_eq!(p.len(), 2);
        assert!(!p[0].is_prefix);
        assert!(p[1].is_prefix);
        assert_eq!(p[1].text, "plu");
        assert_eq!(p[1].distance, 0);
        let done = plan("John plumber ");
        assert!(!done[1].is_prefix);
        assert_eq!(done[1].distance, 1);
    }

    #[test]
    fn stop_words_are_optional_unless_being_typed() {
        let p = plan("the plumber");
        assert!(!p[0].is_required);
        assert!(p[1].is_required);
        assert!(plan("the")[0].is_required);
    }

    #[test]
    fn tokens_are_deduplicated_and_bounded() {
        assert_eq!(plan("pipe Pipe PIPE").len(), 1);
        let long = "a1 b2 c3 d4 e5 f6 g7 h8 i9 j10";
        assert_eq!(plan(long).len(), MAX_TOKENS);
        assert!(plan("  !!  ").is_empty());
    }

    #[test]
    fn long_prefixes_tolerate_one_typo() {
        let p = plan("electrci");
        assert!(p[0].is_prefix);
        assert_eq!(p[0].prefix_distance, 1);
        assert_eq!(p[0].distance, 2);
    }
}
