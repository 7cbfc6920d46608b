//! The users index's fields, its one analyzer, and how a user becomes a
//! document.
//!
//! Every text field goes through the same analyzer (split on anything that
//! is not a letter or digit, lower-case, fold accents to ASCII), so a query
//! token is compared with indexed terms as they are. `headline` repeats the
//! short, telling fields (name, business, skills, categories) for the fuzzy
//! and prefix matches, which cost one automaton walk per field searched.

use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST, STORED, STRING,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer,
};
use tantivy::{Index, TantivyDocument};

use super::source::UserDoc;

/// Name under which [`words`] is registered on the index.
pub const WORDS: &str = "baitech_words";

/// Bumped whenever the schema or the analyzer changes: an index written by
/// another version is rebuilt at start.
pub const SCHEMA_VERSION: u32 = 2;

/// Tokens longer than this are dropped (pasted URLs, hashes).
const LONGEST_TOKEN: usize = 40;

/// The analyzer of every text field and of query text.
pub fn words() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(LONGEST_TOKEN))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// The tokens of `text` as the index stores them.
pub fn tokens(text: &str) -> Vec<String> {
    let mut analyzer = words();
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while let Some(token) = stream.next() {
        out.push(token.text.clone());
    }
    out
}

/// English stop words (Lucene's list, as tantivy's `StopWordFilter` has it).
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
];

/// Whether `token` (lower-case) is an English stop word ("the", "and"...),
/// which a query treats as optional instead of required. The index keeps
/// them: "Will" is also a name.
pub fn is_stop_word(token: &str) -> bool {
    STOP_WORDS.contains(&token)
}

/// Registers [`words`] on `index` (tokenizers are not stored in the index
/// and must be registered every time it is opened).
pub fn register(index: &Index) {
    index.tokenizers().register(WORDS, words());
}

/// The users index's fields.
#[derive(Debug, Clone, Copy)]
pub struct UserFields {
    /// User id, raw (deletes and results go by it).
    pub id: Field,
    /// First and last name.
    pub name: Field,
    /// Business name of a technician.
    pub business: Field,
    /// Skill names.
    pub skills: Field,
    /// Skill categories and the profile's extra service categories.
    pub categories: Field,
    pub bio: Field,
    /// name + business + skills + categories, for fuzzy and prefix matching.
    pub headline: Field,
    /// Account status, raw.
    pub status: Field,
    /// Account role, raw.
    pub role: Field,
    /// Skill names (ASCII lower-case, whole) and skill categories, raw: the
    /// users list's `skills` filter.
    pub tags: Field,
    /// Average rating, for the `minRating` filter.
    pub rating: Field,
    /// Ranking multiplier: `1 + rating/5` for technicians, 1 otherwise.
    pub boost: Field,
}

fn text(record: IndexRecordOption, norms: bool) -> TextOptions {
    TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(WORDS)
            .set_index_option(record)
            .set_fieldnorms(norms),
    )
}

impl UserFields {
    /// The schema and its fields.
    pub fn build() -> (Schema, UserFields) {
        let mut b = Schema::builder();
        let ranked = text(IndexRecordOption::WithFreqs, true);
        let fields = UserFields {
            id: b.add_text_field("id", STRING | STORED),
            name: b.add_text_field("name", ranked.clone()),
            business: b.add_text_field("business", ranked.clone()),
            skills: b.add_text_field("skills", ranked.clone()),
            categories: b.add_text_field("categories", ranked.clone()),
            bio: b.add_text_field("bio", ranked),
            headline: b.add_text_field("headline", text(IndexRecordOption::Basic, false)),
            status: b.add_text_field("status", STRING),
            role: b.add_text_field("role", STRING),
            tags: b.add_text_field("tags", STRING),
            rating: b.add_f64_field("rating", FAST),
            boost: b.add_f64_field("boost", FAST),
        };
        (b.build(), fields)
    }

    /// The document of a searchable user.
    pub fn document(&self, user: &UserDoc) -> TantivyDocument {
        let mut doc = TantivyDocument::default();
        doc.add_text(self.id, &user.id);
        let name = format!("{} {}", user.first_name, user.last_name);
        doc.add_text(self.name, &name);
        doc.add_text(self.headline, &name);
        if let Some(business) = user.business_name.as_deref().filter(|b| !b.is_empty()) {
            doc.add_text(self.business, business);
            doc.add_text(self.headline, business);
        }
        for skill in &user.skills {
            doc.add_text(self.skills, &skill.name);
            doc.add_text(self.headline, &skill.name);
        }
        for category in user.categories() {
            doc.add_text(self.categories, category);
            doc.add_text(self.headline, category);
        }
        if let Some(bio) = user.bio.as_deref().filter(|b| !b.is_empty()) {
            doc.add_text(self.bio, bio);
        }
        doc.add_text(self.status, &user.status);
        doc.add_text(self.role, &user.role);
        for skill in &user.skills {
            doc.add_text(self.tags, skill.name.to_ascii_lowercase());
            doc.add_text(self.tags, &skill.category);
        }
        doc.add_f64(self.rating, user.rating_avg);
        doc.add_f64(self.boost, user.boost());
        doc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_lower_case_ascii_words() {
        assert_eq!(
            tokens("Plumber, Électricien & appliance_repair!"),
            vec!["plumber", "electricien", "appliance", "repair"]
        );
    }

    #[test]
    fn stop_words_are_recognised() {
        assert!(is_stop_word("the"));
        assert!(is_stop_word("and"));
        assert!(!is_stop_word("plumber"));
    }
}
