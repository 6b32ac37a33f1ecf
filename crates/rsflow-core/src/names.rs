//! Generated run and model names (`adjective-noun-NNN`), as `mlflow/utils/name_utils.py` makes them.

/// MLflow retries this many draws before truncating to [`MAX_LENGTH`].
const ATTEMPTS: usize = 10;
/// Longest name MLflow hands out (`_generate_random_name(max_length=20)`).
const MAX_LENGTH: usize = 20;

/// A random `predicate-noun-N` name with `N` in `0..=1000` (Python's `randint(0, 10**3)` is
/// inclusive, so 1000 can come up and there is no zero padding).
pub fn random_name() -> String {
    let mut name = String::new();
    for _ in 0..ATTEMPTS {
        name = draw();
        if name.len() <= MAX_LENGTH {
            return name;
        }
    }
    // Every word is ASCII, so byte truncation cannot split a character.
    name.truncate(MAX_LENGTH);
    name
}

fn draw() -> String {
    let predicate = PREDICATES[fastrand::usize(..PREDICATES.len())];
    let noun = NOUNS[fastrand::usize(..NOUNS.len())];
    let num = fastrand::u32(0..=1000);
    format!("{predicate}-{noun}-{num}")
}

const PREDICATES: &[&str] = &[
    "abundant",
    "able",
    "abrasive",
    "adorable",
    "adaptable",
    "adventurous",
    "aged",
    "agreeable",
    "ambitious",
    "amazing",
    "amusing",
    "angry",
    "auspicious",
    "awesome",
    "bald",
    "beautiful",
    "bemused",
    "bedecked",
    "big",
    "bittersweet",
    "blushing",
    "bold",
    "bouncy",
    "brawny",
    "bright",
    "burly",
    "bustling",
    "calm",
    "capable",
    "carefree",
    "capricious",
    "caring",
    "casual",
    "charming",
    "chill",
    "classy",
    "clean",
    "clumsy",
    "colorful",
    "crawling",
    "dapper",
    "debonair",
    "dashing",
    "defiant",
    "delicate",
    "delightful",
    "dazzling",
    "efficient",
    "enchanting",
    "entertaining",
    "enthused",
    "exultant",
    "fearless",
    "flawless",
    "fortunate",
    "fun",
    "funny",
    "gaudy",
    "gentle",
    "gifted",
    "glamorous",
    "grandiose",
    "gregarious",
    "handsome",
    "hilarious",
    "honorable",
    "illustrious",
    "incongruous",
    "indecisive",
    "industrious",
    "intelligent",
    "inquisitive",
    "intrigued",
    "invincible",
    "judicious",
    "kindly",
    "languid",
    "learned",
    "legendary",
    "likeable",
    "loud",
    "luminous",
    "luxuriant",
    "lyrical",
    "magnificent",
    "marvelous",
    "masked",
    "melodic",
    "merciful",
    "mercurial",
    "monumental",
    "mysterious",
    "nebulous",
    "nervous",
    "nimble",
    "nosy",
    "omniscient",
    "orderly",
    "overjoyed",
    "peaceful",
    "painted",
    "persistent",
    "placid",
    "polite",
    "popular",
    "powerful",
    "puzzled",
    "rambunctious",
    "rare",
    "rebellious",
    "respected",
    "resilient",
    "righteous",
    "receptive",
    "redolent",
    "resilient",
    "rogue",
    "rumbling",
    "salty",
    "sassy",
    "secretive",
    "selective",
    "sedate",
    "serious",
    "shivering",
    "skillful",
    "sincere",
    "skittish",
    "silent",
    "smiling",
    "sneaky",
    "sophisticated",
    "spiffy",
    "stately",
    "suave",
    "stylish",
    "tasteful",
    "thoughtful",
    "thundering",
    "traveling",
    "treasured",
    "trusting",
    "unequaled",
    "upset",
    "unique",
    "unleashed",
    "useful",
    "upbeat",
    "unruly",
    "valuable",
    "vaunted",
    "victorious",
    "welcoming",
    "whimsical",
    "wistful",
    "wise",
    "worried",
    "youthful",
    "zealous",
];

const NOUNS: &[&str] = &[
    "ant", "ape", "asp", "auk", "bass", "bat", "bear", "bee", "bird", "boar", "bug", "calf",
    "carp", "cat", "chimp", "cod", "colt", "conch", "cow", "crab", "crane", "croc", "crow", "cub",
    "deer", "doe", "dog", "dolphin", "donkey", "dove", "duck", "eel", "elk", "fawn", "finch",
    "fish", "flea", "fly", "foal", "fowl", "fox", "frog", "gnat", "gnu", "goat", "goose", "grouse",
    "grub", "gull", "hare", "hawk", "hen", "hog", "horse", "hound", "jay", "kit", "kite", "koi",
    "lamb", "lark", "loon", "lynx", "mare", "midge", "mink", "mole", "moose", "moth", "mouse",
    "mule", "newt", "owl", "ox", "panda", "penguin", "perch", "pig", "pug", "quail", "ram", "rat",
    "ray", "robin", "roo", "rook", "seal", "shad", "shark", "sheep", "shoat", "shrew", "shrike",
    "shrimp", "skink", "skunk", "sloth", "slug", "smelt", "snail", "snake", "snipe", "sow",
    "sponge", "squid", "squirrel", "stag", "steed", "stoat", "stork", "swan", "tern", "toad",
    "trout", "turtle", "vole", "wasp", "whale", "wolf", "worm", "wren", "yak", "zebra",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_have_three_parts_from_the_lists() {
        for _ in 0..2000 {
            let name = random_name();
            assert!(name.len() <= MAX_LENGTH, "{name}");
            let parts: Vec<&str> = name.split('-').collect();
            assert_eq!(parts.len(), 3, "{name}");
            assert!(PREDICATES.contains(&parts[0]), "{name}");
            assert!(NOUNS.contains(&parts[1]), "{name}");
            let n: u32 = parts[2].parse().unwrap();
            assert!(n <= 1000);
            assert_eq!(parts[2], n.to_string(), "no zero padding");
        }
    }

    #[test]
    fn word_lists_match_mlflow() {
        assert_eq!(PREDICATES.len(), 159);
        assert_eq!(NOUNS.len(), 123);
        assert!(PREDICATES.contains(&"abundant"));
        assert!(NOUNS.contains(&"ant"));
    }

    #[test]
    fn long_draws_are_retried_or_truncated() {
        // The longest combination exceeds 20 chars, so lengths are always bounded.
        let longest = PREDICATES.iter().map(|p| p.len()).max().unwrap()
            + NOUNS.iter().map(|n| n.len()).max().unwrap()
            + 2
            + 4;
        assert!(longest > MAX_LENGTH);
    }
}
