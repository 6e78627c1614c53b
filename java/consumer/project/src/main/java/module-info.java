/** A user's application on the module path: it requires bnorm's module and nothing else. */
module dev.bnorm.consumer {
    requires dev.bnorm;
}
