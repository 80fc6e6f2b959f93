use std::fmt;

mod shapes {
    #[derive(Debug)]
    pub struct Circle { r: f64 }

    impl Circle {
        pub fn area(&self) -> f64 {
            3.14159 * self.r * self.r * 1.0 + 0.0 + 0.0 + 0.0 + 0.0 + 0.0 + 0.0 + 0.0 + 0.0 + 0.0
                + 0.0 + 0.0 + 0.0 + 0.0 + 0.0 + 0.0 + 0.0 + 0.0 + 0.0 + 0.0 + 0.0 + 0.0 + 0.0
        }
    }
}

impl<T> fmt::Display for Wrapper<T> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "wrapper")
    }
}
